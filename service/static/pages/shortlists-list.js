/* The Shortlists page (templates pages/shortlists.html): start a shortlist, list earlier ones.
 *
 * Started by shortlists.js only when the page's root says data-officer-page="shortlists". Nothing runs when this
 * module loads: it only defines functions.
 */
import {
  API, api, apiKey, conflictList, el, plural, report, say, settingsInWords, setUpKey, statusBadge, when,
} from "./officers-common.js";

const PER_PAGE = 20;

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

function readStartForm(form, conflicts) {
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
    name: form.elements.name.value.trim(),
    project_ids: all ? "all" : chosen,
    per_project: wholeNumber(form.elements.per_project, problems),
    max_per_organisation: wholeNumber(form.elements.max_per_organisation, problems),
    countries: [...form.querySelectorAll("input[name=countries]:checked")].map((box) => box.value),
    min_per_type: minimums,
    exclude: conflicts.asRequest(),
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

function jobItem(job) {
  const started = when(job.created_at);
  const summary = job.summary ? [plural(job.summary.assignments, "partner", "partners")] : [];
  return el("li", { class: "job" },
    el("div", { class: "job-head" },
      el("a", { class: "job-link", href: `/shortlists/${encodeURIComponent(job.id)}` },
        ...(job.name ? [job.name] : ["Shortlist of ", started || job.id])),
      statusBadge(job)),
    el("p", { class: "meta" }, ...(job.name && started ? [el("span", {}, "Started ", started)] : []),
      ...(job.created_by ? [el("span", { text: `by ${job.created_by}` })] : []),
      ...[...settingsInWords(job.request), ...summary].map((text) => el("span", { text }))));
}

export function start() {
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

  const conflicts = conflictList(document.getElementById("start-conflict-project"),
    document.getElementById("start-conflict-organisation"), document.getElementById("start-conflict-list"));
  document.getElementById("add-start-conflict").addEventListener("click", () => conflicts.add());

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
    const body = readStartForm(form, conflicts);
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
  if (!apiKey.get()) loadJobs(); // with a key, loadJobs runs once the key is accepted
}
