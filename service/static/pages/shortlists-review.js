/* A shortlist's own page (templates pages/shortlist.html) and its print view (pages/shortlist_print.html).
 *
 * The review: a table of every partner, grouped by project, filtered (project, decision, organisation) and paged
 * by projects; decisions made, cleared and noted in place (notes saved as typed); the name, conflicts and
 * "replace rejected partners"; downloads; then the summary, the load and the history, folded.
 * Started by shortlists.js only when the page's root says data-officer-page="shortlist" (or "shortlist-print").
 * Nothing runs when this module loads: it only defines functions.
 */
import {
  API, api, apiKey, bar, conflictList, countryName, el, eligibilityName, fixed, hidden, organisationUrl, plural, report,
  say, sentence, settingsInWords, setUpKey, statusBadge, typeName, when,
} from "./officers-common.js";

const POLL_MS = 1000;
const PROJECTS_PER_PAGE = 10;
const NOTE_SAVE_MS = 700; // a pause in typing this long saves the note
const DECISION_TEXT = { accepted: "Accepted", rejected: "Rejected" };

const groupBy = (items, key) => {
  const groups = new Map();
  for (const item of items) {
    if (!groups.has(item[key])) groups.set(item[key], []);
    groups.get(item[key]).push(item);
  }
  return groups;
};

function pageContext(root) {
  const id = root.dataset.shortlistId;
  const titles = JSON.parse(root.dataset.projectTitles || "{}");
  return { id, path: `${API}/${encodeURIComponent(id)}`, titleOf: (projectId) => titles[projectId] || projectId };
}

function showHeading(job) {
  const name = job.name || "Unnamed shortlist";
  document.getElementById("shortlist-heading").textContent = name;
  document.title = `${name} · Shortlist · Partner Matcher`;
  document.getElementById("job-meta").replaceChildren(
    ...(job.created_at ? [el("span", {}, "Started ", when(job.created_at))] : []),
    ...(job.created_by ? [el("span", { text: `by ${job.created_by}` })] : []),
    ...settingsInWords(job.request).map((text) => el("span", { text })), statusBadge(job));
}

function whoWhen(a) {
  const at = when(a.decided_at);
  if (!at) return [];
  return [a.decided_by ? `${a.decided_by}, ` : "", at];
}

export function start(root) {
  const { id, path, titleOf } = pageContext(root);
  const panels = Object.fromEntries(["progress", "summary", "load", "assignments", "actions", "history"]
    .map((name) => [name, document.getElementById(`${name}-panel`)]));
  const filters = {
    project: document.getElementById("filter-project"),
    decision: document.getElementById("filter-decision"),
    organisation: document.getElementById("filter-organisation"),
  };
  const table = document.querySelector("table.review");
  const unsaved = new Map(); // note field -> send it now (the rows shown; replaced with them)
  window.addEventListener("pagehide", () => { for (const send of unsaved.values()) send(); });
  let timer = null;
  let watched = false; // the page saw the job unfinished: announce when it is done
  let job = null;
  let page = 1;

  function showProgress(current) {
    const percent = Math.round((current.progress || 0) * 100);
    const progress = document.getElementById("job-progress");
    progress.value = percent;
    progress.textContent = `${percent}%`;
    document.getElementById("progress-label").textContent =
      current.status === "queued" ? "Queued: waiting to start" : `Running: ${percent}% done`;
    panels.progress.hidden = false;
  }

  function stat(term, value, note = "") {
    return [el("div", { class: "stat" },
      el("dt", { text: term }),
      el("dd", {}, el("span", { class: "stat-value", text: value }),
        note ? el("span", { class: "stat-note", text: note }) : null))];
  }

  function showSummary() {
    const s = job.summary;
    const limit = job.request.max_per_organisation;
    const decided = (d) => job.assignments.filter((a) => a.decision === d).length;
    document.getElementById("summary-stats").replaceChildren(
      ...stat("Partners", String(s.assignments), `over ${plural(s.projects, "project", "projects")}`),
      ...stat("Accepted", String(decided("accepted")), `${decided("rejected")} rejected`),
      ...stat("Total fit", fixed(s.total_score), `mean ${fixed(s.mean_score)}`),
      ...stat("Organisations used", String(s.organisations_used)),
      ...stat("Max load", plural(s.max_load, "list", "lists"), `limit ${limit}`));
    // Greedy is compared on what the solver maximises, relevance (a shortlist stored before relevance was kept
    // apart has it as its total score).
    const kept = s.total_relevance !== null && s.total_relevance !== undefined;
    const own = kept ? s.total_relevance : s.total_score;
    const baseline = kept ? s.greedy_total_relevance : s.greedy_total_score;
    let greedy;
    if (s.method !== "optimal") greedy = "Greedy method: start an optimal shortlist to compare the two.";
    else if (baseline === null || baseline === undefined) {
      greedy = "Compared with greedy: the greedy baseline could not fill every list under these limits.";
    } else {
      const gain = own - baseline;
      greedy = `Compared with greedy: on relevance (the ranking score the optimal assignment maximises), greedy ` +
        `would total ${fixed(baseline)} against ${fixed(own)}, ` +
        (gain > 0.00005 ? `so the optimal assignment gains ${fixed(gain, 4)}.` : "the same as the optimal assignment.");
    }
    document.getElementById("greedy-note").textContent = greedy;
    panels.summary.hidden = false;
  }

  function showLoad() {
    const names = Object.fromEntries(job.assignments.map((a) => [a.organisation_id, a.organisation_name]));
    const deleted = new Set(job.assignments.filter((a) => a.organisation_deleted).map((a) => a.organisation_id));
    const limit = job.request.max_per_organisation;
    const load = Object.entries(job.summary.load || {});
    document.getElementById("load-heading").textContent =
      `Load per organisation (${plural(load.length, "organisation", "organisations")})`;
    document.getElementById("load-note").textContent =
      "How many project lists each organisation is on; no organisation may be on more than " +
      `${plural(limit, "list", "lists")}.`;
    const rows = load.map(([orgId, lists]) =>
      el("tr", {},
        el("th", { scope: "row" }, orgName({ organisation_id: orgId, organisation_name: names[orgId] || orgId,
          organisation_deleted: deleted.has(orgId) })),
        el("td", { class: "chart-bar" }, bar(lists / Math.max(limit, 1), "load")),
        el("td", { class: "num", text: String(lists) })));
    document.getElementById("load-rows").replaceChildren(...rows);
    panels.load.hidden = false;
  }

  async function showHistory() {
    const names = Object.fromEntries(job.assignments.map((a) => [a.organisation_id, a.organisation_name]));
    let items;
    try {
      items = (await api("GET", `${path}/decisions`)).items;
    } catch (error) {
      report("The decision history could not be loaded", error);
      return;
    }
    const what = { accepted: "accepted", rejected: "rejected", cleared: "cleared the decision on",
      note: "noted on" };
    document.getElementById("history-heading").textContent =
      `Decision history (${plural(items.length, "entry", "entries")})`;
    document.getElementById("history-list").replaceChildren(...items.slice().reverse().map((h) =>
      el("li", {}, when(h.decided_at) || "", " · ", el("strong", { text: h.decided_by || "unknown key" }), " ",
        `${what[h.decision] || h.decision} ${names[h.organisation_id] || h.organisation_id} for “` +
        `${titleOf(h.project_id)}”`, h.note ? el("span", { class: "history-note", text: ` — ${h.note}` }) : null)));
    panels.history.hidden = false;
  }

  // ------------------------------------------------------------------ one row: decisions and notes
  const target = (a) =>
    `${path}/assignments/${encodeURIComponent(a.project_id)}/${encodeURIComponent(a.organisation_id)}`;

  function showDecision(row, a) {
    const badge = row.querySelector(".decision-badge");
    badge.className = `decision-badge decision-${a.decision || "none"}`;
    badge.textContent = DECISION_TEXT[a.decision] || "Undecided";
    row.querySelector(".decided-at").replaceChildren(...whoWhen(a));
    for (const button of row.querySelectorAll("[data-decision]")) {
      button.setAttribute("aria-pressed", String(button.dataset.decision === a.decision));
    }
    // aria-disabled, not disabled: a disabled button drops the keyboard focus to the page's top.
    row.querySelector(".button-clear").setAttribute("aria-disabled", String(!a.decision));
    row.dataset.decision = a.decision || "none";
  }

  async function decide(a, decision, row) {
    if (row.dataset.busy || (decision === null && !a.decision)) return; // one change at a time; nothing to clear
    row.dataset.busy = "true";
    try {
      const note = row.querySelector(".decision-note");
      await note.flush(); // the note's own saves land first, so the history keeps their order
      Object.assign(a, await api("PATCH", target(a), { decision, note: note.value }));
      note.dataset.saved = a.note;
      showDecision(row, a);
      showSummary();
      const done = decision ? `${decision}` : "undecided again";
      say("info", "Decision saved.", `${a.organisation_name}: ${done} for “${titleOf(a.project_id)}”.`);
      showReplaceNote();
    } catch (error) {
      report("The decision was not saved", error);
    } finally {
      delete row.dataset.busy;
      showDecision(row, a);
    }
  }

  // An organisation deleted after the shortlist was made has no page any more: its name, marked deleted.
  function orgName(a) {
    if (a.organisation_deleted) {
      return el("span", { class: "org-deleted" }, a.organisation_name, " ", el("em", { text: "(deleted)" }));
    }
    return el("a", { class: "org-link", href: organisationUrl(a.organisation_id), text: a.organisation_name });
  }

  /* Notes are saved as typed: a pause, leaving the field or leaving the page saves; the row says whether its note
     is saved. Saves of one note run one after another, so an older text never lands after a newer one. */
  function noteSaver(a, input, state) {
    let pending = null;
    let chain = Promise.resolve();
    const show = (kind, text) => { state.className = `note-state note-${kind}`; state.textContent = text; };
    const save = () => {
      clearTimeout(pending);
      pending = null;
      const text = input.value;
      if (text === input.dataset.saved) return chain;
      show("saving", "Saving…");
      chain = chain.then(async () => {
        try {
          Object.assign(a, await api("PATCH", target(a), { note: text }));
          input.dataset.saved = text;
          if (input.value === text) show("saved", "Saved");
          showDecision(input.closest("tr"), a);
        } catch (error) {
          show("error", "Not saved");
          report("The note was not saved", error);
        }
      });
      return chain;
    };
    input.addEventListener("input", () => {
      show("editing", "Not saved yet");
      clearTimeout(pending);
      pending = setTimeout(save, NOTE_SAVE_MS);
    });
    input.addEventListener("blur", () => { if (pending) save(); });
    input.flush = save;
    // If the page goes before the pause, the note is sent with keepalive, which outlives the page.
    unsaved.set(input, () => {
      if (!pending) return;
      fetch(target(a), { method: "PATCH", keepalive: true, headers: { "X-API-Key": apiKey.get(),
        "Content-Type": "application/json" }, body: JSON.stringify({ note: input.value }) });
    });
  }

  function assignmentRow(a, n) {
    const who = ` ${a.organisation_name} for ${titleOf(a.project_id)}`;
    const note = el("input", { id: `note-${n}`, class: "decision-note", type: "text", maxlength: 2000,
      autocomplete: "off", placeholder: "Add a note", "aria-describedby": `note-${n}-state` });
    note.value = a.note || "";
    note.dataset.saved = note.value;
    const state = el("span", { id: `note-${n}-state`, class: "note-state", text: "" });
    const row = el("tr", { class: "assignment", "data-pair": `${a.project_id}|${a.organisation_id}` },
      el("td", { class: "partner", "data-label": "Partner" },
        el("span", { class: "rank-no", text: `${a.rank}.` }), " ",
        orgName(a),
        a.reason ? el("span", { class: "reason", text: a.reason }) : null),
      el("td", { "data-label": "Type" }, typeName(a.org_type), ...(a.eligibility ? [" ",
        el("span", { class: `eligibility eligibility-${a.eligibility}`, text: eligibilityName(a.eligibility) })] : [])),
      el("td", { "data-label": "Country", text: countryName(a.country) }),
      el("td", { class: "fit", "data-label": "Fit" },
        el("span", { class: `band band-${a.band || "none"}`, text: a.band || "–" }),
        el("span", { class: "score", text: ` ${fixed(a.score)}` })),
      el("td", { class: "decision-cell", "data-label": "Decision" },
        el("span", { class: "decision-badge" }),
        el("span", { class: "decided-at" }),
        el("span", { class: "decision-buttons" },
          el("button", { class: "button button-accept", type: "button", "data-decision": "accepted" },
            "Accept", hidden(who)),
          el("button", { class: "button button-reject", type: "button", "data-decision": "rejected" },
            "Reject", hidden(who)),
          el("button", { class: "button button-clear", type: "button" }, "Clear", hidden(` the decision on${who}`)))),
      el("td", { class: "note-cell", "data-label": "Note" },
        el("label", { for: `note-${n}`, class: "visually-hidden" }, `Note on${who}`), note, state));
    for (const button of row.querySelectorAll("[data-decision]")) {
      button.addEventListener("click", () => decide(a, button.dataset.decision, row));
    }
    row.querySelector(".button-clear").addEventListener("click", () => decide(a, null, row));
    noteSaver(a, note, state);
    showDecision(row, a);
    if (a.organisation_deleted) {  // kept for the record; the API refuses new decisions on it (409)
      row.querySelectorAll("button, .decision-note").forEach((control) => { control.disabled = true; });
      row.querySelector(".decision-cell").append(" ", el("span", { class: "deleted-note",
        text: "The organisation was deleted after this shortlist was made; its decision can no longer change." }));
    }
    return row;
  }

  // ------------------------------------------------------------------ the table: filters and pages
  function fillFilters() {
    const projects = [...groupBy(job.assignments, "project_id").keys()];
    filters.project.replaceChildren(el("option", { value: "", text: `All projects (${projects.length})` }),
      ...projects.map((p) => el("option", { value: p, text: titleOf(p) })));
    document.getElementById("conflict-project").replaceChildren(
      ...projects.map((p) => el("option", { value: p, text: titleOf(p) })));
    const orgs = new Map(job.assignments.map((a) => [a.organisation_id, a.organisation_name]));
    filters.organisation.replaceChildren(el("option", { value: "", text: "All organisations" }),
      ...[...orgs].sort((x, y) => x[1].localeCompare(y[1])).map(([v, text]) => el("option", { value: v, text })));
  }

  function matching() {
    const { project, decision, organisation } = Object.fromEntries(
      Object.entries(filters).map(([name, select]) => [name, select.value]));
    return job.assignments.filter((a) => (!project || a.project_id === project) &&
      (!decision || (a.decision || "none") === decision) && (!organisation || a.organisation_id === organisation));
  }

  function showTable() {
    const groups = [...groupBy(matching(), "project_id")];
    const pages = Math.max(1, Math.ceil(groups.length / PROJECTS_PER_PAGE));
    page = Math.min(page, pages);
    const shown = groups.slice((page - 1) * PROJECTS_PER_PAGE, page * PROJECTS_PER_PAGE);
    const partners = groups.reduce((n, [, rows]) => n + rows.length, 0);
    const undecided = job.assignments.filter((a) => !a.decision).length;
    document.getElementById("review-count").textContent = groups.length
      ? `${plural(partners, "partner", "partners")} in ${plural(groups.length, "project", "projects")} match; ` +
        `${undecided} of ${job.assignments.length} are undecided.`
      : "No partner matches these filters.";
    for (const input of unsaved.keys()) input.flush(); // rows about to go: their unsaved notes are saved first
    unsaved.clear();
    for (const body of table.querySelectorAll("tbody")) body.remove();
    let n = (page - 1) * 1000;
    table.append(...shown.map(([projectId, rows], g) => el("tbody", { class: "project-group" },
      el("tr", { class: "group-head" },
        el("th", { colspan: 6, scope: "colgroup", id: `project-${g}`, tabindex: -1 }, titleOf(projectId),
          el("span", { class: "group-meta", text: ` ${plural(rows.length, "partner", "partners")}` }))),
      ...rows.map((a) => assignmentRow(a, ++n)))));
    document.getElementById("page-status").textContent = `Page ${page} of ${pages}`;
    document.getElementById("page-previous").disabled = page <= 1;
    document.getElementById("page-next").disabled = page >= pages;
    document.getElementById("pager").hidden = pages <= 1;
  }

  // ------------------------------------------------------------------ name, conflicts, replace rejected
  function showReplaceNote() {
    const rejected = job.assignments.filter((a) => a.decision === "rejected").length;
    const accepted = job.assignments.filter((a) => a.decision === "accepted").length;
    document.getElementById("replace-note").textContent =
      `${plural(rejected, "rejected partner", "rejected partners")} will be replaced and ` +
      `${plural(accepted, "accepted partner", "accepted partners")} kept, with their notes, in a new shortlist ` +
      "made with the same settings.";
    document.getElementById("replace-rejected").disabled = !rejected && !conflicts.size;
  }

  const conflicts = conflictList(document.getElementById("conflict-project"),
    document.getElementById("conflict-organisation"), document.getElementById("conflict-list"), showReplaceNote);
  document.getElementById("conflict-form").addEventListener("submit", (event) => {
    event.preventDefault();
    conflicts.add();
  });

  document.getElementById("replace-rejected").addEventListener("click", async (event) => {
    const button = event.currentTarget;
    button.disabled = true;
    try {
      const created = await api("POST", `${path}/replace-rejected`, { exclude: conflicts.asRequest() });
      say("info", "New shortlist started.", "Opening its page…");
      window.location.assign(`/shortlists/${encodeURIComponent(created.id)}`);
    } catch (error) {
      report("The rejected partners were not replaced", error);
      button.disabled = false;
    }
  });

  document.getElementById("rename-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      Object.assign(job, await api("PATCH", path, { name: document.getElementById("shortlist-name").value }));
      showHeading(job);
      say("info", "Name saved.", job.name ? `This shortlist is now “${job.name}”.` : "It has no name now.");
    } catch (error) {
      report("The name was not saved", error);
    }
  });

  async function download(kind, button) {
    const [file, fallback] = {
      csv: [`${path}.csv`, `shortlist-${id}.csv`],
      xlsx: [`${path}.xlsx`, `shortlist-${id}.xlsx`],
      decisions: [`${path}/decisions.csv`, `decisions-${id}.csv`],
    }[kind];
    button.disabled = true;
    try {
      // The key must not go into a URL, so the file is fetched with the header and saved from a blob.
      const response = await api("GET", file, undefined, { raw: true });
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
    try {
      job = await api("GET", path);
    } catch (error) {
      report("The shortlist could not be loaded", error); // polling stops: the message says what to do
      return;
    }
    showHeading(job);
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
    document.getElementById("shortlist-name").value = job.name || "";
    fillFilters();
    showTable();
    panels.assignments.hidden = false;
    panels.actions.hidden = false;
    showReplaceNote();
    showSummary();
    showLoad();
    showHistory();
    if (watched) {
      say("info", "The shortlist is ready.", `${plural(job.assignments.length, "partner", "partners")} over ` +
        `${plural(job.summary.projects, "project", "projects")}.`);
    }
  }

  panels.history.addEventListener("toggle", () => { if (panels.history.open && job) showHistory(); });
  for (const select of Object.values(filters)) {
    select.addEventListener("change", () => { page = 1; showTable(); });
  }
  // A new page of projects: focus goes to its first project, so keyboard users carry on from the top.
  const turn = (step) => {
    page += step;
    showTable();
    const first = table.querySelector(".group-head th");
    if (first) first.focus();
  };
  document.getElementById("page-previous").addEventListener("click", () => turn(-1));
  document.getElementById("page-next").addEventListener("click", () => turn(1));
  document.getElementById("filters").addEventListener("submit", (event) => event.preventDefault());
  for (const button of document.querySelectorAll("[data-download]")) {
    button.addEventListener("click", () => download(button.dataset.download, button));
  }
  setUpKey(load, () => {
    clearTimeout(timer); // and take the officer's data off the screen, as a shared screen may show it
    for (const panel of Object.values(panels)) panel.hidden = true;
    for (const body of table.querySelectorAll("tbody")) body.remove();
    say("info", "The key is forgotten.", "Enter a key to see this shortlist again.");
  });
  if (!apiKey.get()) {
    say("info", "Enter your API key to see this shortlist.",
      "Shortlists are officers' working data, shown only with a key.");
  }
}

/* The print view: every project as one block (its partners, decisions, notes, who and when), for A4. */
export function startPrint(root) {
  const { path, titleOf } = pageContext(root);
  const blocks = document.getElementById("print-blocks");

  async function load() {
    let job;
    try {
      job = await api("GET", path);
    } catch (error) {
      report("The shortlist could not be loaded", error);
      return;
    }
    showHeading(job);
    if (job.status !== "done") {
      say("info", "This shortlist is not finished.", "Its print view is ready once it is done.");
      return;
    }
    blocks.replaceChildren(...[...groupBy(job.assignments, "project_id")].map(([projectId, rows], g) =>
      el("section", { class: "print-block", "aria-labelledby": `print-${g}` },
        el("h2", { id: `print-${g}` }, titleOf(projectId), el("span", { class: "mono", text: ` ${projectId}` })),
        el("table", { class: "print-table" },
          el("thead", {}, el("tr", {}, ...["#", "Partner", "Type, country", "Fit", "Decision", "Note"]
            .map((text) => el("th", { scope: "col", text })))),
          el("tbody", {}, ...rows.map((a) => el("tr", {},
            el("td", { text: String(a.rank) }),
            el("td", {}, el("strong", { text: a.organisation_name }),
              a.reason ? el("span", { class: "reason", text: a.reason }) : null),
            el("td", { text: `${typeName(a.org_type)}, ${countryName(a.country)}`
              + (a.eligibility ? ` (${eligibilityName(a.eligibility)})` : "") }),
            el("td", { text: `${a.band || "–"} (${fixed(a.score)})` }),
            el("td", {}, DECISION_TEXT[a.decision] || "Undecided",
              a.decided_at ? el("span", { class: "decided-at" }, ...whoWhen(a)) : null),
            el("td", { text: a.note || "" }))))))));
    document.body.dataset.printReady = "true";
  }

  document.getElementById("print-now").addEventListener("click", () => window.print());
  setUpKey(load, () => blocks.replaceChildren());
}
