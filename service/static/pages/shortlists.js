/* Officers' shortlist pages (templates pages/shortlists.html and pages/shortlist.html): the site's one script.
 *
 * Shortlists are officers' working data, so every call to /v1/shortlists carries the officer's API key in the
 * X-API-Key header. The key lives only in this tab's sessionStorage: never in a URL, a cookie or the markup.
 * Everything that comes from the API or the corpus reaches the page through textContent or attributes, never as
 * markup, so an organisation named "<script>…" is shown as text and cannot run.
 */
"use strict";

(() => {
  const root = document.querySelector("[data-officer-page]");
  if (!root) return;

  const KEY_STORAGE = "partner-matcher.api-key";
  const API = "/v1/shortlists";
  const PER_PAGE = 20;
  const POLL_MS = 1000;
  const SVG = "http://www.w3.org/2000/svg";
  const labels = JSON.parse(root.dataset.labels || "{}");
  const messages = document.getElementById("messages");

  // ------------------------------------------------------------------ building the page (text only, never markup)
  function el(tag, props = {}, ...children) {
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

  const hidden = (text) => el("span", { class: "visually-hidden", text });

  /* A bar like the server-drawn ones (pages/_results.html): an SVG whose fill width is the value in [0, 1]. */
  function bar(fraction, kind = "") {
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

  const fixed = (x, digits = 2) => (x === null || x === undefined ? "–" : Number(x).toFixed(digits));
  const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;
  const countryName = (code) => (labels.countries || {})[code] || code;
  const organisationUrl = (orgId) => `/organisations/${encodeURIComponent(orgId)}`;
  const typeName = (id) => (labels.org_types || {})[id] || id;
  const sentence = (text) => {
    const s = String(text || "").trim();
    return s ? s[0].toUpperCase() + s.slice(1) + (/[.!?…]$/.test(s) ? "" : ".") : "";
  };
  function when(iso) {
    const date = iso ? new Date(iso) : null;
    if (!date || Number.isNaN(date.getTime())) return null;
    const text = date.toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short" });
    return el("time", { datetime: iso, text });
  }

  // ------------------------------------------------------------------ the key (this tab only)
  const apiKey = {
    get() {
      try { return sessionStorage.getItem(KEY_STORAGE) || ""; } catch { return ""; }
    },
    set(value) { sessionStorage.setItem(KEY_STORAGE, value); },
    clear() {
      try { sessionStorage.removeItem(KEY_STORAGE); } catch { /* storage is off: nothing was kept */ }
    },
  };

  function setUpKey(onKey, onForget) {
    const form = document.getElementById("key-form");
    const input = document.getElementById("api-key");
    const status = document.getElementById("key-status");
    const showStatus = () => {
      status.textContent = apiKey.get() ? "A key is set for this tab." : "No key is set for this tab yet.";
    };
    input.value = apiKey.get();
    showStatus();
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
      showStatus();
      messages.replaceChildren();
      onKey();
    });
    document.getElementById("forget-key").addEventListener("click", () => {
      apiKey.clear();
      input.value = "";
      showStatus();
      onForget();
    });
  }

  // ------------------------------------------------------------------ the API
  class ApiError extends Error {
    constructor(status, code, message, details) {
      super(message);
      Object.assign(this, { status, code, details });
    }
  }

  async function api(method, path, body, { raw = false } = {}) {
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

  function say(kind, title, text = "", hint = "", items = []) {
    const box = el("div", { class: `message message-${kind}` },
      el("p", {}, el("strong", { text: title }), text ? ` ${text}` : ""));
    if (items.length) box.append(el("ul", {}, ...items.map((item) => el("li", { text: item }))));
    if (hint) box.append(el("p", { class: "message-hint", text: hint }));
    messages.replaceChildren(box);
    if (kind === "error") messages.scrollIntoView({ block: "nearest" }); // the button pressed may be far below
  }

  /* An API error, said in the page's words: ``fieldWords`` maps the API's field names (in its messages) to the
     form's labels, so "raise max_per_organisation" points at the field the officer sees. */
  function report(what, error, fieldWords = {}) {
    const status = error instanceof ApiError ? error.status : 0;
    const words = (text) => Object.entries(fieldWords).reduce(
      (out, [field, label]) => out.replace(new RegExp(`\\b${field}\\b`, "g"), label), String(text));
    const items = Array.isArray(error.details)
      ? error.details.filter((d) => d && d.field).map((d) => words(`${d.field}: ${d.message}`)) : [];
    say("error", `${what} (${status ? `error ${status}` : "no answer"}).`, sentence(words(error.message)),
      HINTS[status] || "Try again; if it keeps failing, tell the service's operator.", items);
  }

  // ------------------------------------------------------------------ /shortlists: start one, list earlier ones
  function wholeNumber(input, problems) {
    const text = input.value.trim();
    const value = Number(text);
    const [min, max] = [Number(input.min), Number(input.max)];
    if (text === "" || !Number.isInteger(value) || value < min || value > max) {
      const label = input.labels[0].textContent.trim();
      problems.push([input, `“${label}” must be a whole number from ${min} to ${max}` +
        (text ? `; it is “${text}”.` : "; it is empty or not a number.")]);
      return null;
    }
    return value;
  }

  function readStartForm(form) {
    const problems = [];
    const select = form.elements.project_ids;
    const chosen = [...select.selectedOptions].map((option) => option.value);
    const all = form.elements.scope.value === "all";
    if (!all && !chosen.length) {
      problems.push([select, "No project is chosen: choose one or more in the list, or pick “All projects”."]);
    }
    const minimums = {};
    for (const input of form.querySelectorAll("[data-min-type]")) {
      const n = wholeNumber(input, problems);
      if (n) minimums[input.dataset.minType] = n;
    }
    const body = {
      project_ids: all ? "all" : chosen,
      per_project: wholeNumber(form.elements.per_project, problems),
      max_per_organisation: wholeNumber(form.elements.max_per_organisation, problems),
      countries: [...form.querySelectorAll("input[name=countries]:checked")].map((box) => box.value),
      min_per_type: minimums,
      method: form.elements.method.value,
    };
    for (const control of form.querySelectorAll("[aria-invalid]")) control.removeAttribute("aria-invalid");
    if (!problems.length) return body;
    for (const [control] of problems) control.setAttribute("aria-invalid", "true");
    say("error", "Please check the form.", "", "Fix the fields below, then start the shortlist again.",
      problems.map(([, text]) => text));
    problems[0][0].focus();
    return null;
  }

  const STATUS_TEXT = { queued: "Queued", running: "Running", done: "Done", failed: "Failed" };

  function statusBadge(job) {
    const running = job.status === "running" ? ` ${Math.round((job.progress || 0) * 100)}%` : "";
    const text = (STATUS_TEXT[job.status] || job.status) + running;
    return el("span", { class: `status status-${job.status}`, text });
  }

  /* The request's settings in words, shared by the list and the shortlist's own page. */
  function settingsInWords(request) {
    const r = request || {};
    const words = [
      r.project_ids === "all" ? "all projects" : plural((r.project_ids || []).length, "project", "projects"),
      `${r.per_project} partners each`,
      `at most ${plural(r.max_per_organisation, "list", "lists")} per organisation`,
      r.countries && r.countries.length ? `in ${r.countries.map(countryName).join(", ")}`
        : "in each project's sought countries"];
    for (const [type, n] of Object.entries(r.min_per_type || {})) words.push(`${typeName(type)}: at least ${n} each`);
    words.push(r.method === "greedy" ? "greedy" : "optimal");
    return words;
  }

  function jobItem(job) {
    const started = when(job.created_at);
    const summary = job.summary ? [plural(job.summary.assignments, "partner", "partners")] : [];
    return el("li", { class: "job" },
      el("div", { class: "job-head" },
        el("a", { class: "job-link", href: `/shortlists/${encodeURIComponent(job.id)}` },
          "Shortlist of ", started || job.id),
        statusBadge(job)),
      el("p", { class: "meta" }, ...[...settingsInWords(job.request), ...summary].map((text) => el("span", { text }))));
  }

  function shortlistsPage() {
    const form = document.getElementById("start-form");
    const select = form.elements.project_ids;
    const list = document.getElementById("job-list");
    const note = document.getElementById("list-note");
    const more = document.getElementById("more-jobs");
    let page = 1;
    const fieldWords = { project_ids: "the projects", min_per_type: "the minimums per project",
      countries: "the partner countries", org_types: "the organisation types" };
    for (const name of ["per_project", "max_per_organisation"]) {
      fieldWords[name] = `“${form.elements[name].labels[0].textContent.trim()}”`;
    }

    select.addEventListener("change", () => {
      if (select.selectedOptions.length) document.getElementById("scope-chosen").checked = true;
    });

    async function loadJobs(next = false) {
      if (!apiKey.get()) {
        list.replaceChildren();
        more.hidden = true;
        note.textContent = "Enter your API key to see earlier shortlists.";
        note.hidden = false;
        return;
      }
      const wanted = next ? page + 1 : 1;
      try {
        const data = await api("GET", `${API}?page=${wanted}&per_page=${PER_PAGE}`);
        page = wanted;
        if (!next) list.replaceChildren();
        list.append(...data.items.map(jobItem));
        note.hidden = data.total > 0;
        note.textContent = "No shortlists yet: start one above.";
        more.hidden = page * PER_PAGE >= data.total;
      } catch (error) {
        report("The list of shortlists could not be loaded", error);
      }
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = readStartForm(form);
      if (!body) return;
      const button = form.querySelector("[type=submit]");
      button.disabled = true;
      try {
        const job = await api("POST", API, body);
        say("info", "Shortlist started.", "Opening its page…");
        window.location.assign(`/shortlists/${encodeURIComponent(job.id)}`);
      } catch (error) {
        report("The shortlist was not started", error, fieldWords);
      } finally {
        button.disabled = false;
      }
    });
    document.getElementById("refresh-list").addEventListener("click", () => loadJobs());
    more.addEventListener("click", () => loadJobs(true));
    setUpKey(() => loadJobs(), () => loadJobs());
    loadJobs();
  }

  // ------------------------------------------------------------------ /shortlists/<id>: progress, result, decisions
  function shortlistPage() {
    const id = root.dataset.shortlistId;
    const path = `${API}/${encodeURIComponent(id)}`;
    const titles = JSON.parse(root.dataset.projectTitles || "{}");
    const titleOf = (projectId) => titles[projectId] || projectId; // a project deleted since: its id
    const panels = Object.fromEntries(["progress", "summary", "load", "assignments"]
      .map((name) => [name, document.getElementById(`${name}-panel`)]));
    let timer = null;
    let watched = false; // the page saw the job unfinished: announce when it is done

    function showProgress(job) {
      const percent = Math.round((job.progress || 0) * 100);
      const progress = document.getElementById("job-progress");
      progress.value = percent;
      progress.textContent = `${percent}%`;
      document.getElementById("progress-label").textContent =
        job.status === "queued" ? "Queued: waiting to start" : `Running: ${percent}% done`;
      panels.progress.hidden = false;
    }

    function stat(term, value, note = "") {
      return [el("div", { class: "stat" },
        el("dt", { text: term }),
        el("dd", {}, el("span", { class: "stat-value", text: value }),
          note ? el("span", { class: "stat-note", text: note }) : null))];
    }

    function showSummary(job) {
      const s = job.summary;
      const limit = job.request.max_per_organisation;
      document.getElementById("summary-stats").replaceChildren(
        ...stat("Partners", String(s.assignments), `over ${plural(s.projects, "project", "projects")}`),
        ...stat("Total score", fixed(s.total_score), `mean ${fixed(s.mean_score)}`),
        ...stat("Lowest score", fixed(s.lowest_score)),
        ...stat("Organisations used", String(s.organisations_used)),
        ...stat("Max load", plural(s.max_load, "list", "lists"), `limit ${limit}`));
      let greedy;
      if (s.method !== "optimal") greedy = "Greedy method: start an optimal shortlist to compare the two.";
      else if (s.greedy_total_score === null || s.greedy_total_score === undefined) {
        greedy = "Compared with greedy: the greedy baseline could not fill every list under these limits.";
      } else {
        const gain = s.total_score - s.greedy_total_score;
        greedy = `Compared with greedy: it would total ${fixed(s.greedy_total_score)}, ` +
          (gain > 0.00005 ? `so the optimal assignment scores ${fixed(gain, 4)} more.`
            : "the same as the optimal assignment.");
      }
      document.getElementById("greedy-note").textContent = greedy;
      panels.summary.hidden = false;
    }

    function showLoad(job) {
      const names = Object.fromEntries(job.assignments.map((a) => [a.organisation_id, a.organisation_name]));
      const limit = job.request.max_per_organisation;
      document.getElementById("load-note").textContent =
        "How many project lists each organisation is on; no organisation may be on more than " +
        `${plural(limit, "list", "lists")}.`;
      const rows = Object.entries(job.summary.load || {}).map(([orgId, lists]) =>
        el("tr", {},
          el("th", { scope: "row" }, el("a", { href: organisationUrl(orgId), text: names[orgId] || orgId })),
          el("td", { class: "chart-bar" }, bar(lists / Math.max(limit, 1), "load")),
          el("td", { class: "num", text: String(lists) })));
      document.getElementById("load-rows").replaceChildren(...rows);
      panels.load.hidden = false;
    }

    function showDecision(card, a) {
      const badge = card.querySelector(".decision-badge");
      badge.className = `decision-badge decision-${a.decision || "none"}`;
      badge.textContent = a.decision === "accepted" ? "Accepted" : a.decision === "rejected" ? "Rejected" : "Undecided";
      const at = when(a.decided_at);
      card.querySelector(".decided-at").replaceChildren(...(at ? ["on ", at] : []));
      card.querySelector(".decision-note").value = a.note || "";
      for (const button of card.querySelectorAll("[data-decision]")) {
        button.setAttribute("aria-pressed", String(button.dataset.decision === a.decision));
      }
    }

    async function decide(a, decision, card) {
      const buttons = card.querySelectorAll("[data-decision]");
      buttons.forEach((button) => { button.disabled = true; });
      const target = `${path}/assignments/${encodeURIComponent(a.project_id)}/${encodeURIComponent(a.organisation_id)}`;
      try {
        Object.assign(a, await api("PATCH", target, { decision, note: card.querySelector(".decision-note").value }));
        showDecision(card, a);
        say("info", "Decision saved.", `${a.organisation_name}: ${decision} for “${titleOf(a.project_id)}”.`);
      } catch (error) {
        report("The decision was not saved", error);
      } finally {
        buttons.forEach((button) => { button.disabled = false; });
      }
    }

    function assignmentCard(a, n) {
      const who = ` ${a.organisation_name} for ${titleOf(a.project_id)}`;
      const card = el("article", { class: "card assignment", "aria-labelledby": `a-${n}-name` },
        el("header", { class: "card-head" },
          el("span", { class: "rank", "aria-label": `Rank ${a.rank}`, text: String(a.rank) }),
          el("div", { class: "card-title" },
            el("h4", { id: `a-${n}-name` },
              el("a", { class: "org-link", href: organisationUrl(a.organisation_id), text: a.organisation_name })),
            el("p", { class: "meta" },
              el("span", { text: countryName(a.country) }), el("span", { text: typeName(a.org_type) }))),
          el("div", { class: "overall" },
            el("span", { class: "overall-label", text: "Score" }),
            el("span", { class: "overall-value", text: fixed(a.score) }),
            bar(a.score, "overall"))),
        a.reason ? el("p", { class: "reason", text: a.reason }) : null,
        el("div", { class: "decision" },
          el("p", { class: "decision-state" },
            el("span", { class: "decision-badge" }), " ", el("span", { class: "decided-at" })),
          el("div", { class: "decision-field" },
            el("label", { for: `note-${n}` }, "Note", hidden(` on${who}`)),
            el("input", { id: `note-${n}`, class: "decision-note", type: "text", maxlength: 2000,
              autocomplete: "off" })),
          el("div", { class: "decision-buttons" },
            el("button", { class: "button button-accept", type: "button", "data-decision": "accepted" },
              "Accept", hidden(who)),
            el("button", { class: "button button-reject", type: "button", "data-decision": "rejected" },
              "Reject", hidden(who)))));
      for (const button of card.querySelectorAll("[data-decision]")) {
        button.addEventListener("click", () => decide(a, button.dataset.decision, card));
      }
      showDecision(card, a);
      return el("li", {}, card);
    }

    function showAssignments(job) {
      const groups = new Map();
      for (const a of job.assignments) {
        if (!groups.has(a.project_id)) groups.set(a.project_id, []);
        groups.get(a.project_id).push(a);
      }
      let n = 0;
      document.getElementById("project-groups").replaceChildren(...[...groups].map(([projectId, rows], g) =>
        el("section", { class: "project-group", "aria-labelledby": `project-${g}` },
          el("h3", { id: `project-${g}` },
            el("a", { href: `/projects/${encodeURIComponent(projectId)}`, text: titleOf(projectId) })),
          el("p", { class: "meta" },
            el("span", { text: projectId }), el("span", { text: plural(rows.length, "partner", "partners") })),
          el("ol", { class: "assignments", "aria-label": `Partners for ${titleOf(projectId)}` },
            ...rows.map((a) => assignmentCard(a, ++n))))));
      panels.assignments.hidden = false;
    }

    async function download(kind, button) {
      const [target, fallback] = {
        csv: [`${path}.csv`, `shortlist-${id}.csv`],
        xlsx: [`${path}.xlsx`, `shortlist-${id}.xlsx`],
        decisions: [`${path}/decisions.csv`, `decisions-${id}.csv`],
      }[kind];
      button.disabled = true;
      try {
        // The key must not go into a URL, so the file is fetched with the header and saved from a blob.
        const response = await api("GET", target, undefined, { raw: true });
        const blob = await response.blob();
        const named = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
        const name = named ? named[1] : fallback;
        const url = URL.createObjectURL(blob);
        const link = el("a", { href: url, download: name, hidden: true });
        document.body.append(link);
        link.click();
        link.remove();
        setTimeout(() => URL.revokeObjectURL(url), 60_000);
        say("info", "Download ready.", `Saved as ${name}.`);
      } catch (error) {
        report("The download failed", error);
      } finally {
        button.disabled = false;
      }
    }

    async function load() {
      clearTimeout(timer);
      if (!apiKey.get()) {
        say("info", "Enter your API key to see this shortlist.",
          "Shortlists are officers' working data, shown only with a key.");
        return;
      }
      let job;
      try {
        job = await api("GET", path);
      } catch (error) {
        report("The shortlist could not be loaded", error); // polling stops: the message says what to do
        return;
      }
      document.getElementById("job-meta").replaceChildren(
        ...(job.created_at ? [el("span", {}, "Started ", when(job.created_at))] : []),
        ...settingsInWords(job.request).map((text) => el("span", { text })), statusBadge(job));
      if (job.status === "queued" || job.status === "running") {
        watched = true;
        showProgress(job);
        timer = setTimeout(load, POLL_MS);
        return;
      }
      panels.progress.hidden = true;
      if (job.status === "failed") {
        const error = job.error || {};
        say("error", "This shortlist failed.", sentence(error.message || "it stopped without a reason"),
          "Change the settings and start a new shortlist from the Shortlists page.");
        return;
      }
      showSummary(job);
      showLoad(job);
      showAssignments(job);
      if (watched) {
        say("info", "The shortlist is ready.", `${plural(job.assignments.length, "partner", "partners")} over ` +
          `${plural(job.summary.projects, "project", "projects")}.`);
      }
    }

    for (const button of document.querySelectorAll("[data-download]")) {
      button.addEventListener("click", () => download(button.dataset.download, button));
    }
    setUpKey(load, () => {
      clearTimeout(timer); // and take the officer's data off the screen, as a shared screen may show it
      for (const panel of Object.values(panels)) panel.hidden = true;
      document.getElementById("project-groups").replaceChildren();
      say("info", "The key is forgotten.", "Enter a key to see this shortlist again.");
    });
    load();
  }

  if (root.dataset.officerPage === "shortlists") shortlistsPage();
  else if (root.dataset.officerPage === "shortlist") shortlistPage();
})();
