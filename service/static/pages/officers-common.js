/* What both officers' shortlist pages share: the key, the API, messages, formatting, building the page.
 *
 * Shortlists are officers' working data, so every call to /v1/shortlists carries the officer's API key in the
 * X-API-Key header. The key lives only in this tab's sessionStorage: never in a URL, a cookie or the markup.
 * Everything that comes from the API or the corpus reaches the page through textContent or attributes, never as
 * markup, so an organisation named "<script>…" is shown as text and cannot run.
 */

export const API = "/v1/shortlists";
const KEY_STORAGE = "partner-matcher.api-key";
const SVG = "http://www.w3.org/2000/svg";
export const root = document.querySelector("[data-officer-page]");
const labels = JSON.parse((root && root.dataset.labels) || "{}");
const messages = document.getElementById("messages");

// ------------------------------------------------------------------ building the page (text only, never markup)
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") node.textContent = value;
    else if (name === "class") node.className = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  node.append(...children.filter((child) => child !== null && child !== undefined && child !== false));
  return node;
}

export const hidden = (text) => el("span", { class: "visually-hidden", text });

/* A bar like the server-drawn ones (pages/_results.html): an SVG whose fill width is the value in [0, 1]. */
export function bar(fraction, kind = "") {
  const svg = document.createElementNS(SVG, "svg");
  const attrs = { class: kind ? `bar bar-${kind}` : "bar", viewBox: "0 0 100 10", preserveAspectRatio: "none",
    "aria-hidden": "true", focusable: "false" };
  for (const [name, value] of Object.entries(attrs)) svg.setAttribute(name, value);
  const width = Math.max(0, Math.min(100, Math.round(Number(fraction) * 1000) / 10)) || 0;
  for (const [cls, w] of [["bar-track", 100], ["bar-fill", width]]) {
    const rect = document.createElementNS(SVG, "rect");
    rect.setAttribute("class", cls);
    rect.setAttribute("width", String(w));
    rect.setAttribute("height", "10");
    svg.append(rect);
  }
  return svg;
}

// ------------------------------------------------------------------ formatting
export const fixed = (x, digits = 2) => (x === null || x === undefined ? "–" : Number(x).toFixed(digits));
export const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;
export const countryName = (code) => (labels.countries || {})[code] || code;
export const organisationUrl = (orgId) => `/organisations/${encodeURIComponent(orgId)}`;
export const typeName = (id) => (labels.org_types || {})[id] || id;
export const eligibilityName = (code) => (labels.eligibility || {})[code] || code;
export const sentence = (text) => {
  const s = String(text || "").trim();
  return s ? s[0].toUpperCase() + s.slice(1) + (/[.!?…]$/.test(s) ? "" : ".") : "";
};
export function when(iso) {
  const date = iso ? new Date(iso) : null;
  if (!date || Number.isNaN(date.getTime())) return null;
  const text = date.toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short" });
  return el("time", { datetime: iso, text });
}

const STATUS_TEXT = { queued: "Queued", running: "Running", done: "Done", failed: "Failed" };

export function statusBadge(job) {
  const running = job.status === "running" ? ` ${Math.round((job.progress || 0) * 100)}%` : "";
  const text = (STATUS_TEXT[job.status] || job.status) + running;
  return el("span", { class: `status status-${job.status}`, text });
}

/* The request's settings in words, shared by the list and the shortlist's own page. */
export function settingsInWords(request) {
  const r = request || {};
  const words = [
    r.project_ids === "all" ? "all projects" : plural((r.project_ids || []).length, "project", "projects"),
    `${r.per_project} partners each`,
    `at most ${plural(r.max_per_organisation, "list", "lists")} per organisation`,
    r.countries && r.countries.length ? `in ${r.countries.map(countryName).join(", ")}`
      : "in each project's sought countries, else the programme's other country"];
  if (r.eligibility && r.eligibility.length) words.push(`only ${r.eligibility.map(eligibilityName).join(", ")}`);
  for (const [type, n] of Object.entries(r.min_per_type || {})) words.push(`${typeName(type)}: at least ${n} each`);
  const count = (mapping) => Object.values(mapping || {}).reduce((n, ids) => n + ids.length, 0);
  if (count(r.exclude)) words.push(plural(count(r.exclude), "conflict excluded", "conflicts excluded"));
  if (count(r.keep)) words.push(plural(count(r.keep), "accepted partner kept", "accepted partners kept"));
  words.push(r.method === "greedy" ? "greedy" : "optimal");
  return words;
}

/* Conflicts of interest chosen with two selects (project, organisation) and listed with a Remove button each;
   ``asRequest()`` gives them as the API's ``exclude`` ({project id: [organisation ids]}). */
export function conflictList(projectSelect, organisationSelect, list, onChange = () => {}) {
  const chosen = new Map();
  const label = (select, value) => ([...select.options].find((o) => o.value === value) || {}).textContent || value;
  const show = () => {
    list.replaceChildren(...[...chosen].map(([key, [p, o]]) => {
      const words = `${label(organisationSelect, o)} for ${label(projectSelect, p)}`;
      const remove = el("button", { class: "button button-quiet button-small", type: "button" }, "Remove",
        hidden(` the conflict ${words}`));
      remove.addEventListener("click", () => { chosen.delete(key); show(); onChange(); });
      return el("li", {}, `${words} `, remove);
    }));
  };
  return {
    add() {
      const [p, o] = [projectSelect.value, organisationSelect.value];
      if (!p || !o) return;
      chosen.set(`${p}|${o}`, [p, o]);
      show();
      onChange();
    },
    get size() { return chosen.size; },
    asRequest() {
      const exclude = {};
      for (const [p, o] of chosen.values()) (exclude[p] = exclude[p] || []).push(o);
      return exclude;
    },
  };
}

// ------------------------------------------------------------------ the key (this tab only)
export const apiKey = {
  get() {
    try { return sessionStorage.getItem(KEY_STORAGE) || ""; } catch { return ""; }
  },
  set(value) { sessionStorage.setItem(KEY_STORAGE, value); },
  clear() {
    try { sessionStorage.removeItem(KEY_STORAGE); } catch { /* storage is off: nothing was kept */ }
  },
};

/* The key form. A key is checked with the API (GET /v1/whoami) before the page calls it anything: the status says
   "accepted" with the key's name, or "refused", never "set" beside a 403. ``onKey(name)`` runs once a key is
   accepted (at load too, when the tab already holds one); ``onForget()`` when the officer forgets it. */
export function setUpKey(onKey, onForget) {
  const form = document.getElementById("key-form");
  const input = document.getElementById("api-key");
  const status = document.getElementById("key-status");
  const panel = document.getElementById("key-panel");
  const summary = document.getElementById("key-summary");
  const show = (state, text, short) => {
    status.textContent = text;
    status.className = `key-status key-${state}`;
    summary.textContent = short;
    summary.className = `key-summary key-${state}`;
  };

  async function check() {
    if (!apiKey.get()) {
      show("none", "No key is set for this tab yet.", "no key yet");
      panel.open = true;
      return;
    }
    show("checking", "Checking the key…", "checking…");
    try {
      const { key_name: name } = await api("GET", "/v1/whoami");
      show("ok", `Key accepted: your decisions are recorded as “${name}”.`, `key “${name}” accepted`);
      panel.open = false;
      onKey(name);
    } catch (error) {
      show("refused", error.status === 403 ? "This key was refused." : "The key could not be checked.",
        error.status === 403 ? "key refused" : "key not checked");
      panel.open = true;
      report("The key was not accepted", error);
    }
  }

  input.value = apiKey.get();
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = input.value.trim();
    if (!value) {
      say("error", "The API key is empty.",
        "Paste the key the service's operator gave you, then choose “Use this key”.");
      input.focus();
      return;
    }
    try {
      apiKey.set(value);
    } catch {
      say("error", "This browser does not let the page keep the key.",
        "Allow site data (session storage) for this site, then try again.");
      return;
    }
    messages.replaceChildren();
    check();
  });
  document.getElementById("forget-key").addEventListener("click", () => {
    apiKey.clear();
    input.value = "";
    show("none", "No key is set for this tab yet.", "no key yet");
    onForget();
  });
  check();
}

// ------------------------------------------------------------------ the API
class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    Object.assign(this, { status, code, details });
  }
}

export async function api(method, path, body, { raw = false } = {}) {
  const key = apiKey.get();
  if (!key) throw new ApiError(401, "unauthorized", "no API key is set for this tab", null);
  const init = { method, cache: "no-store", headers: { "X-API-Key": key, Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, "network_error", "the service could not be reached", null);
  }
  if (!response.ok) {
    let error = {};
    try { error = (await response.json()).error || {}; } catch { /* not the API's JSON: keep the status */ }
    throw new ApiError(response.status, error.code || `http_${response.status}`,
      error.message || `the service answered ${response.status} ${response.statusText}`, error.details ?? null);
  }
  return raw ? response : response.json();
}

// ------------------------------------------------------------------ messages (one polite live region)
const HINTS = {
  0: "Check your network connection, then try again.",
  400: "Correct what the message names, then try again.",
  401: "Enter your officer API key in the field above, then try again.",
  403: "The key was refused: check it for typing mistakes, or ask the service's operator for a valid key.",
  404: "It may have been removed, or the address is wrong: the Shortlists page lists the ones that exist.",
  422: "No shortlist can meet these settings: change the one the message names, then start again.",
  429: "Too many requests in a short time: wait a minute, then try again.",
  503: "The service is starting up or busy: try again in a few seconds.",
};

export function say(kind, title, text = "", hint = "", items = []) {
  const box = el("div", { class: `message message-${kind}` },
    el("p", {}, el("strong", { text: title }), text ? ` ${text}` : ""));
  if (items.length) box.append(el("ul", {}, ...items.map((item) => el("li", { text: item }))));
  if (hint) box.append(el("p", { class: "message-hint", text: hint }));
  messages.replaceChildren(box);
  if (kind === "error") messages.scrollIntoView({ block: "nearest" }); // the button pressed may be far below
}

/* An API error, said in the page's words: ``fieldWords`` maps the API's field names (in its messages) to the
   form's labels, so "raise max_per_organisation" points at the field the officer sees. */
export function report(what, error, fieldWords = {}) {
  const status = error instanceof ApiError ? error.status : 0;
  const words = (text) => Object.entries(fieldWords).reduce(
    (out, [field, label]) => out.replace(new RegExp(`\\b${field}\\b`, "g"), label), String(text));
  const items = Array.isArray(error.details)
    ? error.details.filter((d) => d && d.field).map((d) => words(`${d.field}: ${d.message}`)) : [];
  say("error", `${what} (${status ? `error ${status}` : "no answer"}).`, sentence(words(error.message)),
    HINTS[status] || "Try again; if it keeps failing, tell the service's operator.", items);
}
