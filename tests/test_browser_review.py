"""An officer reviews a 40-project shortlist in real headless Chromium (issue 23): by keyboard, end to end.

A fictional call of 40 projects (test fixtures, not corpus records) over the fixture corpus plus 20 fictional UK
organisations, with two named keys. Decisions are made, cleared and noted by keyboard; the rejected partners are
replaced with a conflict entered on the page; the exports are opened and checked cell by cell against the API;
the print view is rendered to an A4 PDF; axe-core finds no violation. Screenshots at 1366x900 and 390x844 and the
PDF are saved under test-artifacts/ (screenshots/ and pdf/), beside the other browser tests' screenshots.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from embeddings import FakeEmbedder
from matcher import Organisation, PartnerMatcher, Project, Settings
from tests.conftest import FIXTURE_CORPUS
from tests.test_browser import CHROMIUM, SCREENSHOTS, screenshot, serving

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium not installed: run scripts/browser.sh")
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright not installed: pip install playwright==1.65.2")
axe_playwright = pytest.importorskip("axe_playwright_python.sync_playwright",
                                     reason="axe-core not installed: pip install axe-playwright-python==0.1.8")

PDFS = SCREENSHOTS.parent / "pdf"
ANN, BOB = "key-of-ann", "key-of-bob"
TOPICS = ["cobalt from tailings", "lithium from brines", "magnet recycling", "graphite anodes", "nickel laterites",
          "rare earth separation", "battery recycling", "mine water treatment"]
N_PROJECTS, PER_PROJECT = 40, 5
DESKTOP, PHONE = {"width": 1366, "height": 900}, {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def call(tmp_path_factory) -> Iterator[tuple[str, PartnerMatcher]]:
    """The app (keys "ann" and "bob") over the fixture corpus, 20 fictional UK organisations and a 40-project
    call; yields (base URL, matcher)."""
    from service import create_app

    settings = Settings(data_dir=tmp_path_factory.mktemp("review-var"), corpus_dir=FIXTURE_CORPUS)
    matcher = PartnerMatcher(settings, embedder=FakeEmbedder(dim=256)).open()
    matcher.ensure_index()
    for i in range(20):
        topic = TOPICS[i % len(TOPICS)]
        matcher.save_organisation(Organisation(
            id=f"fx-review-org-{i:02d}", name=f"Fixture Lab {i:02d}", country="GB",
            org_type=("company", "university", "rto")[i % 3], website=f"https://lab-{i:02d}.example.org",
            description=f"Fixture record for tests. Works on {topic} and {TOPICS[(i + 3) % len(TOPICS)]}."))
    for i in range(N_PROJECTS):
        matcher.save_project(Project(
            id=f"fx-review-{i:02d}", title=f"Review project {i:02d}: {TOPICS[i % len(TOPICS)]}",
            summary=f"Fixture brief for tests: {TOPICS[i % len(TOPICS)]} in Canada, seeking UK partners.",
            country="CA", seeking_countries=["GB"]))
    app = create_app({"MATCHER": matcher, "TESTING": True, "RATE_LIMIT": "", "API_KEYS": f"ann:{ANN},bob:{BOB}"})
    with serving(app) as url:
        yield url, matcher
    matcher.close()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def tab(browser):
    """A desktop tab (1366x900); no script error or CSP violation may be reported on it."""
    context = browser.new_context(viewport=DESKTOP, accept_downloads=True, reduced_motion="reduce")
    page = context.new_page()
    page.set_default_timeout(15_000)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    page.on("console", lambda message: "Content Security Policy" in message.text and problems.append(message.text))
    yield page
    context.close()
    assert problems == []


def api(page, base: str, method: str, path: str, key: str = ANN, **body):
    response = page.request.fetch(base + path, method=method, headers={"X-API-Key": key}, data=body or None)
    assert response.ok, response.text()
    return response.json()


def groups(assignments: list[dict]) -> dict[str, list[dict]]:
    """A shortlist's assignments by project, in the order listed."""
    out: dict[str, list[dict]] = {}
    for a in assignments:
        out.setdefault(a["project_id"], []).append(a)
    return out


def start_call(page, base: str, matcher: PartnerMatcher, name: str) -> dict:
    job = api(page, base, "POST", "/v1/shortlists", name=name, per_project=PER_PROJECT, max_per_organisation=10,
              project_ids=[f"fx-review-{i:02d}" for i in range(N_PROJECTS)])
    matcher.shortlists.wait()
    return api(page, base, "GET", f"/v1/shortlists/{job['id']}")


def use_key(page, key: str = ANN, name: str = "ann") -> None:
    page.get_by_label("Officer API key").fill(key)
    page.get_by_role("button", name="Use this key").click()
    sync_api.expect(page.locator("#key-status")).to_have_text(
        f"Key accepted: your decisions are recorded as “{name}”.")


def focused(page) -> dict:
    return page.evaluate("""() => { const e = document.activeElement, row = e.closest('tr');
        return {cls: e.className, pair: row ? row.dataset.pair || '' : '', tag: e.tagName, id: e.id,
                text: e.textContent.trim()}; }""")


def tab_until(page, want, limit: int = 12) -> int:
    """Press Tab until ``want(focused)`` holds; returns the number of presses."""
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        if want(focused(page)):
            return presses
    pytest.fail(f"{limit} presses of Tab never reached the element; focus is on {focused(page)}")


def axe_violations(page) -> list[str]:
    results = axe_playwright.Axe().run(page)
    return [f"{v['id']}: {v['help']} ({len(v['nodes'])} nodes, e.g. {v['nodes'][0]['target']}: "
            f"{v['nodes'][0].get('failureSummary', '')})" for v in results.response["violations"]]


def test_a_wrong_key_is_never_shown_as_set(tab, call):
    base, matcher = call
    job = start_call(tab, base, matcher, "Wrong key check")
    tab.goto(f"{base}/shortlists/{job['id']}")
    tab.get_by_label("Officer API key").fill("not-a-key")
    tab.get_by_role("button", name="Use this key").click()
    sync_api.expect(tab.locator("#key-status")).to_have_text("This key was refused.")
    assert "key-refused" in tab.locator("#key-status").get_attribute("class")
    assert tab.locator("#key-summary").inner_text() == "key refused"
    sync_api.expect(tab.locator("#messages")).to_contain_text("The key was not accepted (error 403).")
    assert tab.locator("#assignments-panel").is_hidden() and tab.locator("#key-panel").get_attribute("open") == ""
    use_key(tab)
    sync_api.expect(tab.locator("#assignments-panel")).to_be_visible()
    assert tab.locator("#key-panel").get_attribute("open") is None  # folded away once accepted


def test_a_40_project_shortlist_reviewed_end_to_end_by_keyboard(tab, call):
    base, matcher = call
    job = start_call(tab, base, matcher, "Call 40, first pass")
    assert job["status"] == "done" and len(job["assignments"]) == N_PROJECTS * PER_PROJECT
    tab.goto(f"{base}/shortlists/{job['id']}")
    use_key(tab)
    tab.reload()  # the tab keeps the key: the page opens on the review, the key panel folded
    sync_api.expect(tab.locator("#key-summary")).to_have_text("key “ann” accepted")
    expect = sync_api.expect
    expect(tab.locator("tr.assignment")).to_have_count(10 * PER_PROJECT)  # ten projects a page
    assert tab.locator("h1").inner_text() == "Call 40, first pass"
    assert tab.locator("#page-status").inner_text() == "Page 1 of 4"
    # The load chart comes after the assignments and folded; so does the history.
    order = tab.evaluate("""['assignments-panel', 'load-panel', 'history-panel']
        .map((id) => document.getElementById(id).getBoundingClientRect().top)""")
    assert order == sorted(order)
    assert tab.locator("#load-panel").get_attribute("open") is None
    screenshot(tab, "shortlist-review-1366")
    tab.screenshot(path=str(SCREENSHOTS / "shortlist-review-1366-first-screen.png"))  # what an officer sees first
    assert axe_violations(tab) == []

    # From the skip link, the first decision is a few Tabs away: back link, the folded key, three filters, the
    # partner, its Accept.
    tab.keyboard.press("Tab")
    assert focused(tab)["text"] == "Skip to main content"
    tab.keyboard.press("Enter")
    presses = tab_until(tab, lambda f: "button-accept" in f["cls"])
    assert presses <= 7, f"{presses} Tabs to the first Accept"
    first = job["assignments"][0]
    assert focused(tab)["pair"] == f"{first['project_id']}|{first['organisation_id']}"

    # Every partner, page by page: rank 1 and 2 accepted, 3 noted only, 4 rejected, 5 rejected then cleared.
    by_project: dict[str, list[dict]] = {}
    for a in job["assignments"]:
        by_project.setdefault(a["project_id"], []).append(a)
    expected: dict[tuple[str, str], tuple[str | None, str]] = {}
    projects = list(by_project)
    for number, project_id in enumerate(projects):
        if number and number % 10 == 0:  # the pager, then the new page's first project has the focus
            tab_until(tab, lambda f: f["id"] == "page-next", limit=6)
            tab.keyboard.press("Enter")
            assert focused(tab)["tag"] == "TH" and tab.locator("#page-status").inner_text() == \
                f"Page {number // 10 + 1} of 4"
        for a in by_project[project_id]:
            pair = f"{a['project_id']}|{a['organisation_id']}"
            if focused(tab)["pair"] != pair or "button-accept" not in focused(tab)["cls"]:
                tab_until(tab, lambda f, pair=pair: f["pair"] == pair and "button-accept" in f["cls"])
            row = tab.locator(f'tr[data-pair="{pair}"]')
            note = f"Rank {a['rank']} noted by keyboard"
            if a["rank"] <= 2:
                tab.keyboard.press("Enter")
                expect(row.locator(".decision-badge")).to_have_text("Accepted")
                expected[(a["project_id"], a["organisation_id"])] = ("accepted", "")
            elif a["rank"] == 3:
                tab_until(tab, lambda f: "decision-note" in f["cls"], limit=3)
                tab.keyboard.type(note)
                expected[(a["project_id"], a["organisation_id"])] = (None, note)
            else:
                tab.keyboard.press("Tab")
                tab.keyboard.press("Enter")  # Reject
                expect(row.locator(".decision-badge")).to_have_text("Rejected")
                if a["rank"] == 5:
                    tab.keyboard.press("Tab")
                    assert focused(tab)["text"].startswith("Clear")
                    tab.keyboard.press("Enter")
                    expect(row.locator(".decision-badge")).to_have_text("Undecided")
                expected[(a["project_id"], a["organisation_id"])] = ("rejected" if a["rank"] == 4 else None, "")
        if number == 0:
            screenshot(tab, "shortlist-review-keyboard")
    tab.keyboard.press("Tab")  # the last note is saved when it loses the focus
    expect(tab.locator(".note-saved")).to_have_count(10)  # the last page's ten notes
    expect(tab.locator(".note-saving")).to_have_count(0)

    stored = api(tab, base, "GET", f"/v1/shortlists/{job['id']}")["assignments"]
    assert {(a["project_id"], a["organisation_id"]): (a["decision"], a["note"]) for a in stored} == expected
    assert {a["decided_by"] for a in stored} == {"ann"}
    history = api(tab, base, "GET", f"/v1/shortlists/{job['id']}/decisions")["items"]
    assert sorted({h["decision"] for h in history}) == ["accepted", "cleared", "note", "rejected"]
    assert sum(h["decision"] == "note" for h in history) == N_PROJECTS  # one entry per typed note

    # Filters: undecided on one project, and one organisation across projects; the notes survive a reload.
    tab.reload()
    tab.get_by_label("Project", exact=True).select_option(projects[7])
    tab.get_by_label("Decision", exact=True).select_option("none")
    expect(tab.locator("tr.assignment")).to_have_count(2)  # rank 3 (noted) and rank 5 (cleared)
    assert tab.locator(".decision-note").first.input_value() == "Rank 3 noted by keyboard"
    tab.get_by_label("Project", exact=True).select_option("")
    tab.get_by_label("Decision", exact=True).select_option("rejected")
    expect(tab.locator("tr.assignment")).to_have_count(10)  # the pages hold ten projects of rejected pairs
    assert tab.locator("#page-status").inner_text() == "Page 1 of 4"
    organisation = stored[0]["organisation_id"]
    tab.get_by_label("Decision", exact=True).select_option("")
    tab.get_by_label("Organisation", exact=True).select_option(organisation)
    expect(tab.locator("tr.assignment")).to_have_count(sum(a["organisation_id"] == organisation for a in stored))
    tab.get_by_label("Organisation", exact=True).select_option("")

    # The history is shown with who decided.
    tab.locator("#history-panel summary").click()
    assert tab.locator("#history-list li").first.locator("strong").inner_text() == "ann"

    # A phone: no sideways scroll, each row a card.
    phone = tab.context.browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True,
                                                reduced_motion="reduce")
    small = phone.new_page()
    try:
        small.goto(f"{base}/shortlists/{job['id']}")
        use_key(small)
        sync_api.expect(small.locator("tr.assignment")).to_have_count(10 * PER_PROJECT)
        widths = small.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert widths[0] <= widths[1] == PHONE["width"]
        screenshot(small, "shortlist-review-390")
        small.screenshot(path=str(SCREENSHOTS / "shortlist-review-390-first-screen.png"))
    finally:
        phone.close()


def test_rejected_partners_replaced_with_a_conflict_then_exported_and_printed(tab, call):
    base, matcher = call
    job = start_call(tab, base, matcher, "Call 40, replace")
    by_project: dict[str, list[dict]] = {}
    for a in job["assignments"]:
        by_project.setdefault(a["project_id"], []).append(a)
    for rows in by_project.values():  # ann accepts rank 1, bob rejects rank 2
        api(tab, base, "PATCH", f"/v1/shortlists/{job['id']}/assignments/{rows[0]['project_id']}/"
            f"{rows[0]['organisation_id']}", decision="accepted", note="Fits: spoke to the lead")
        api(tab, base, "PATCH", f"/v1/shortlists/{job['id']}/assignments/{rows[1]['project_id']}/"
            f"{rows[1]['organisation_id']}", key=BOB, decision="rejected", note="Too far from the topic")
    conflict_project = job["assignments"][0]["project_id"]
    conflict = by_project[conflict_project][2]  # rank 3 of the first project: a conflict of interest
    jobs = api(tab, base, "GET", "/v1/shortlists")["total"]

    tab.goto(f"{base}/shortlists/{job['id']}")
    use_key(tab)
    sync_api.expect(tab.locator("#replace-note")).to_contain_text(f"{N_PROJECTS} rejected partners will be "
                                                                 f"replaced and {N_PROJECTS} accepted partners kept")
    # A conflict naming an id that is not stored (mistyped, or deleted since the page was opened) is refused by the
    # API, and the page says which id was probably meant; no shortlist is started.
    tab.evaluate("""() => document.getElementById('conflict-organisation')
        .add(new Option('Fixture Lab 01 (mistyped id)', 'fx-reveiw-org-01'))""")
    tab.get_by_label("Conflict of interest: project").select_option(conflict_project)
    tab.get_by_label("Organisation in conflict").select_option("fx-reveiw-org-01")
    tab.get_by_role("button", name="Add conflict").click()
    tab.get_by_role("button", name="Replace rejected partners").click()
    refused = tab.locator("#messages .message-error")
    sync_api.expect(refused).to_contain_text("The rejected partners were not replaced (error 400).")
    sync_api.expect(refused).to_contain_text("'fx-reveiw-org-01' is not stored; did you mean fx-review-org-01?")
    assert tab.url == f"{base}/shortlists/{job['id']}" and api(tab, base, "GET", "/v1/shortlists")["total"] == jobs
    tab.locator("#conflict-list li").get_by_role("button").click()  # Remove it
    tab.get_by_label("Conflict of interest: project").select_option(conflict_project)
    tab.get_by_label("Organisation in conflict").select_option(conflict["organisation_id"])
    tab.get_by_role("button", name="Add conflict").click()
    assert tab.locator("#conflict-list li").count() == 1
    tab.get_by_label("Shortlist name").fill("Call 40, final")
    tab.get_by_role("button", name="Save name").click()
    sync_api.expect(tab.locator("h1")).to_have_text("Call 40, final")
    tab.get_by_role("button", name="Replace rejected partners").focus()
    tab.keyboard.press("Enter")
    tab.wait_for_url(re.compile(r"/shortlists/(?!" + job["id"] + r")[0-9a-f]{32}$"))
    sync_api.expect(tab.locator("#assignments-panel")).to_be_visible(timeout=30_000)
    new_id = tab.url.rsplit("/", 1)[1]
    new = api(tab, base, "GET", f"/v1/shortlists/{new_id}")
    assert new["name"] == "Call 40, final (rejected replaced)" and new["created_by"] == "ann"
    pairs = {(a["project_id"], a["organisation_id"]): a for a in new["assignments"]}
    assert len(pairs) == N_PROJECTS * PER_PROJECT
    for rows in by_project.values():
        kept = pairs[(rows[0]["project_id"], rows[0]["organisation_id"])]
        assert (kept["decision"], kept["note"], kept["decided_by"]) == ("accepted", "Fits: spoke to the lead", "ann")
        assert (rows[1]["project_id"], rows[1]["organisation_id"]) not in pairs
    assert (conflict_project, conflict["organisation_id"]) not in pairs
    assert new["request"]["exclude"] == {conflict_project: [conflict["organisation_id"]]}
    sync_api.expect(tab.locator("h1")).to_have_text("Call 40, final (rejected replaced)")
    assert tab.locator("tr.assignment .decision-badge", has_text="Accepted").count() == 10  # the first page's
    for rows in groups(new["assignments"]).values():  # score is the fit; it never rises down a project's list
        assert all(a["score"] == a["fit"] for a in rows)
        assert [a["score"] for a in rows] == sorted((a["score"] for a in rows), reverse=True)
    shown = tab.locator("tr.assignment td.fit").all_inner_texts()
    assert shown == [f"{a['band']} {a['score']:.2f}" for a in new["assignments"][:len(shown)]]
    screenshot(tab, "shortlist-replaced-1366")

    # Exports, opened and checked cell by cell against the API.
    titles = {f"fx-review-{i:02d}": f"Review project {i:02d}: {TOPICS[i % len(TOPICS)]}" for i in range(N_PROJECTS)}
    websites = {f"fx-review-org-{i:02d}": f"https://lab-{i:02d}.example.org" for i in range(20)}

    def download(button: str) -> bytes:
        with tab.expect_download() as info:
            tab.get_by_role("button", name=button).click()
        return Path(info.value.path()).read_bytes()

    def expected_row(a: dict) -> dict:
        return {"project_id": a["project_id"], "project_title": titles[a["project_id"]], "rank": a["rank"],
                "organisation_id": a["organisation_id"], "organisation_name": a["organisation_name"],
                "country": a["country"], "org_type": a["org_type"], "eligibility": a["eligibility"],
                "website": websites.get(a["organisation_id"], ""),
                "profile_url": f"{base}/organisations/{a['organisation_id']}", "band": a["band"], "fit": a["fit"],
                "score": a["score"], "relevance": a["relevance"], "reason": a["reason"], "decision": a["decision"], "note": a["note"],
                "decided_by": a["decided_by"], "decided_at": a["decided_at"],
                "organisation_deleted": a["organisation_deleted"]}

    rows = list(csv.DictReader(io.StringIO(download("Assignments (CSV)").decode())))
    assert len(rows) == len(new["assignments"]) and list(rows[0])[-1] == "organisation_deleted"  # added last
    for row, a in zip(rows, new["assignments"]):
        want = expected_row(a)
        for column, value in want.items():
            if column == "decided_at":
                got = row[column]
                assert (got == "") if value is None else got == value[:19] + "Z"
            else:
                assert row[column] == ("" if value is None else str(value)), (column, row[column], value)

    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(download("Workbook (XLSX)")))
    assert book.sheetnames == ["assignments", "load", "decisions", "settings"]
    sheet = book["assignments"]
    from matcher.shortlists.export import EXPORT_COLUMNS, HEADERS

    assert [c.value for c in sheet[1]] == [HEADERS[c][0] for c in EXPORT_COLUMNS]
    assert [c.value for c in sheet[1]][-1] == "Organisation deleted"  # the last column, T
    assert [c.value for c in sheet[1]][11:14] == ["Fit (calibrated)", "Score (calibrated fit)",
                                                  "Relevance (ranking, relative)"]  # which is which
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == f"A1:T{len(new['assignments']) + 1}"
    for cells, a in zip(sheet.iter_rows(min_row=2), new["assignments"]):
        want = expected_row(a)
        for cell, column in zip(cells, EXPORT_COLUMNS):
            value = want[column]
            if column == "decided_at":
                if value is None:
                    assert cell.value is None
                else:  # a real Excel date, in UTC, to the second
                    at = dt.datetime.fromisoformat(value.replace("Z", "+00:00")).replace(tzinfo=None)
                    assert isinstance(cell.value, dt.datetime) and abs(cell.value - at) < dt.timedelta(seconds=1)
                    assert cell.number_format == "yyyy-mm-dd hh:mm"
            else:
                assert (cell.value or None) == (value or None), (column, cell.value, value)
    profile = sheet.cell(row=2, column=EXPORT_COLUMNS.index("profile_url") + 1)
    assert profile.hyperlink.target == profile.value == f"{base}/organisations/{new['assignments'][0]['organisation_id']}"
    load = {r[0].value: r[4].value for r in book["load"].iter_rows(min_row=2)}
    names = {a["organisation_id"]: a["organisation_name"] for a in new["assignments"]}
    assert load == {names[o]: n for o, n in new["summary"]["load"].items()}  # names, not ids
    decisions = list(book["decisions"].iter_rows(min_row=2, values_only=True))
    assert len(decisions) == N_PROJECTS and {d[1] for d in decisions} == {"ann"}  # the carried acceptances
    settings = {r[0].value: r[1].value for r in book["settings"].iter_rows(min_row=2)}
    assert settings["Name"] == new["name"] and settings["Replaces the rejected partners of"] == job["id"]
    assert settings["Partners per project"] == PER_PROJECT and settings["Max lists per organisation"] == 10
    assert settings["Conflicts of interest (excluded)"] == f"{conflict_project}: {conflict['organisation_id']}"
    assert settings["Score"].startswith("the calibrated fit as shown") and "orders each project's partners" in \
        settings["Relevance"]
    assert settings["Total score (calibrated fit)"] == new["summary"]["total_score"]
    assert settings["Total relevance (the solver's objective)"] == new["summary"]["total_relevance"]
    history = list(csv.DictReader(io.StringIO(download("Decision history (CSV)").decode())))
    assert [(h["decided_by"], h["decision"], h["project_title"]) for h in history][0] == (
        "ann", "accepted", titles[new["assignments"][0]["project_id"]])
    assert ANN not in download("Decision history (CSV)").decode()  # the name, never the key

    # The print view: one block per project, rendered to an A4 PDF.
    tab.get_by_role("link", name="Print view").click()
    tab.wait_for_url(f"**/shortlists/{new_id}/print")
    tab.wait_for_selector("body[data-print-ready=true]")
    assert tab.locator(".print-block").count() == N_PROJECTS
    first_block = groups(new["assignments"])[new["assignments"][0]["project_id"]]
    assert tab.locator(".print-block").first.locator("tbody tr td:nth-child(4)").all_inner_texts() == \
        [f"{a['band']} ({a['score']:.2f})" for a in first_block]  # the fit, as on the review page
    assert tab.locator(".print-block h2").first.inner_text().startswith(titles[new["assignments"][0]["project_id"]])
    assert axe_violations(tab) == []
    screenshot(tab, "shortlist-print-1366")
    PDFS.mkdir(parents=True, exist_ok=True)
    pdf = tab.pdf(path=str(PDFS / "shortlist-print.pdf"), format="A4", print_background=True)
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert pdf.startswith(b"%PDF") and 5 <= pages <= N_PROJECTS, pages  # blocks share pages, never split
    tab.emulate_media(media="print")
    assert tab.locator(".key-panel").is_hidden() and tab.locator(".site-header").is_hidden()
    breaks = tab.evaluate("getComputedStyle(document.querySelector('.print-block')).breakInside")
    assert breaks == "avoid"


def test_a_shortlist_is_named_when_started_and_the_list_shows_the_name(tab, call):
    base, matcher = call
    tab.goto(base + "/shortlists")
    use_key(tab, BOB, "bob")
    tab.get_by_label("Name", exact=True).fill("Call 40, three projects")
    tab.get_by_label("Only the projects I choose").check()
    tab.get_by_label("Projects to shortlist").select_option([f"fx-review-{i:02d}" for i in range(3)])
    tab.get_by_label("Partners per project", exact=True).fill("3")
    tab.get_by_label("Project", exact=True).select_option("fx-review-00")  # a conflict of interest
    tab.get_by_label("Organisation in conflict").select_option("fx-review-org-00")
    tab.get_by_role("button", name="Add conflict").click()
    sync_api.expect(tab.locator("#start-conflict-list li")).to_have_text(
        "Fixture Lab 00 for Review project 00: cobalt from tailings Remove the conflict Fixture Lab 00 for Review "
        "project 00: cobalt from tailings")
    assert axe_violations(tab) == []
    screenshot(tab, "shortlists-start-named")
    tab.get_by_role("button", name="Start shortlist").click()
    tab.wait_for_url(re.compile(r"/shortlists/[0-9a-f]{32}$"))
    sync_api.expect(tab.locator("h1")).to_have_text("Call 40, three projects")
    sync_api.expect(tab.locator("#assignments-panel")).to_be_visible(timeout=30_000)
    assert "by bob" in tab.locator("#job-meta").inner_text() and "1 conflict excluded" in \
        tab.locator("#job-meta").inner_text()
    job = api(tab, base, "GET", "/v1/shortlists/" + tab.url.rsplit("/", 1)[1])
    assert job["request"]["exclude"] == {"fx-review-00": ["fx-review-org-00"]}
    assert ("fx-review-00", "fx-review-org-00") not in {(a["project_id"], a["organisation_id"])
                                                         for a in job["assignments"]}
    tab.get_by_role("link", name="All shortlists").click()
    link = tab.get_by_role("link", name="Call 40, three projects")
    sync_api.expect(link).to_have_count(1)
    assert "by bob" in tab.locator(".job", has=link).inner_text()
