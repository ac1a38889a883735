/* A shortlist's own page (templates pages/shortlist.html): its progress, result and the officer's decisions.
 *
 * Started by shortlists.js only when the page's root says data-officer-page="shortlist". Nothing runs when this
 * module loads: it only defines functions.
 */
import {
  API, api, apiKey, bar, countryName, el, fixed, hidden, organisationUrl, plural, report, say, sentence,
  settingsInWords, setUpKey, statusBadge, typeName, when,
} from "./officers-common.js";

const POLL_MS = 1000;

export function start(root) {
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
    const deleted = new Set(job.assignments.filter((a) => a.organisation_deleted).map((a) => a.organisation_id));
    const limit = job.request.max_per_organisation;
    document.getElementById("load-note").textContent =
      "How many project lists each organisation is on; no organisation may be on more than " +
      `${plural(limit, "list", "lists")}.`;
    const rows = Object.entries(job.summary.load || {}).map(([orgId, lists]) =>
      el("tr", {},
        el("th", { scope: "row" }, orgName(orgId, names[orgId] || orgId, deleted.has(orgId))),
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

  // An organisation deleted after the shortlist was made has no page any more: its name, marked deleted.
  function orgName(orgId, name, isDeleted, attrs = {}) {
    if (isDeleted) {
      return el("span", { ...attrs, class: "org-deleted" }, name, " ", el("em", { text: "(deleted)" }));
    }
    return el("a", { ...attrs, href: organisationUrl(orgId), text: name });
  }

  function assignmentCard(a, n) {
    const who = ` ${a.organisation_name} for ${titleOf(a.project_id)}`;
    const card = el("article", { class: "card assignment", "aria-labelledby": `a-${n}-name` },
      el("header", { class: "card-head" },
        el("span", { class: "rank", "aria-label": `Rank ${a.rank}`, text: String(a.rank) }),
        el("div", { class: "card-title" },
          el("h4", { id: `a-${n}-name` },
            a.organisation_deleted ? orgName(a.organisation_id, a.organisation_name, true)
              : el("a", { class: "org-link", href: organisationUrl(a.organisation_id), text: a.organisation_name })),
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
    if (a.organisation_deleted) {  // kept for the record; the API refuses new decisions on it (409)
      card.querySelectorAll("[data-decision], .decision-note").forEach((control) => { control.disabled = true; });
      card.querySelector(".decision-state").append(" ", el("span", { class: "deleted-note",
        text: "The organisation was deleted after this shortlist was made; its decision can no longer change." }));
    }
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
