"""The researchers' and officers' pages in real headless Chromium (Debian's, installed by scripts/browser.sh).

The app runs on 127.0.0.1 on a free port in a background thread, over the fake-embedder fixture corpus plus two
hostile records. Each page's full-page screenshot is saved under test-artifacts/screenshots/ for people to look at.
The officers' app also has an API key and the shortlist tests' fictional call (enough UK candidates); its
shortlist jobs run in a background thread of the same process, so the page's polling sees them progress.
"""

from __future__ import annotations

import csv
import io
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from embeddings import FakeEmbedder
from matcher import Organisation, PartnerMatcher, Project, Settings
from tests.conftest import FIXTURE_CORPUS
from tests.test_pages import XSS_IMG, XSS_SCRIPT, hostile_organisation, hostile_project
from tests.conftest import EXTRA_GB, EXTRA_PROJECTS

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"
QUERY = "recovering cobalt from mine tailings"
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium not installed: run scripts/browser.sh")
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright not installed: pip install playwright==1.65.2")


@contextmanager
def serving(app) -> Iterator[str]:
    """``app`` on 127.0.0.1, on a port the OS picks, in a thread; yields the base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="browser-test-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def base_url(tmp_path_factory) -> Iterator[str]:
    from service import create_app

    settings = Settings(data_dir=tmp_path_factory.mktemp("browser-var"), corpus_dir=FIXTURE_CORPUS)
    matcher = PartnerMatcher(settings, embedder=FakeEmbedder(dim=256)).open()
    matcher.ensure_index()
    matcher.save_organisation(hostile_organisation(), by="ann")  # as through a key named "ann": in its history
    matcher.save_project(hostile_project(), by="ann")
    # No rate limit: the browser's requests (pages, the stylesheet, the icon) all come from one address.
    app = create_app({"MATCHER": matcher, "TESTING": True, "RATE_LIMIT": ""})
    with serving(app) as url:
        yield url
    matcher.close()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        # Debian's Chromium, never a browser build downloaded by Playwright.
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def dialogs() -> list[str]:
    return []


@pytest.fixture
def page(browser, dialogs):
    """A fresh desktop-sized tab that records (and dismisses) any dialog a script might open.

    Afterwards, no script error and no Content-Security-Policy violation may have been reported: either would mean
    some markup reached the page that the templates did not write.
    """
    # Reduced motion: axe (and every check) reads colours as they settle, not halfway through a transition.
    context = browser.new_context(viewport=DESKTOP, reduced_motion="reduce")
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    tab.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    problems: list[str] = []
    tab.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    tab.on("console", lambda message: "Content Security Policy" in message.text and problems.append(message.text))
    yield tab
    context.close()
    assert problems == []


def screenshot(tab, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    tab.screenshot(path=str(path), full_page=True)
    return path


def test_search_by_typing_into_the_form(page, base_url):
    page.goto(base_url + "/")
    screenshot(page, "home")
    page.get_by_label("Your project", exact=True).fill(QUERY)
    page.get_by_label("United Kingdom", exact=True).check()
    page.get_by_role("button", name="Find partners").click()
    page.wait_for_url("**/search?**")
    assert "q=recovering+cobalt+from+mine+tailings" in page.url and "countries=GB" in page.url  # shareable
    api = page.request.post(base_url + "/v1/match", data={"text": QUERY, "countries": ["GB"]}).json()
    cards = page.locator("article.card")
    assert cards.locator(".result-link").all_inner_texts() == [r["organisation"]["name"] for r in api["results"]]
    assert cards.count() >= 3
    first = cards.first
    assert first.locator("mark", has_text="cobalt").count() >= 1
    assert first.locator("table.chart tbody tr").count() >= 5  # the score breakdown, drawn as bars
    assert page.get_by_label("Your project", exact=True).input_value() == QUERY  # the form keeps the query
    screenshot(page, "search")


def test_open_an_organisation_from_a_result(page, base_url):
    page.goto(f"{base_url}/search?q=recovering+cobalt+from+mine+tailings&countries=CA")
    link = page.locator(".result-link").first
    name = link.inner_text()
    link.click()
    page.wait_for_url("**/organisations/**")
    assert page.locator("h1").inner_text() == name
    assert page.locator("section.sources li").count() >= 1
    screenshot(page, "organisation")


def test_project_page_and_list(page, base_url):
    page.goto(base_url + "/projects")
    page.get_by_role("link", name="Recycling rare earth magnets from e-waste").click()
    page.wait_for_url("**/projects/fx-brief-magnets")
    assert page.locator("h1").inner_text() == "Recycling rare earth magnets from e-waste"
    assert page.locator("article.card").count() >= 1
    screenshot(page, "project")
    page.goto(base_url + "/projects")
    screenshot(page, "projects")


def test_error_pages_are_friendly(page, base_url):
    response = page.goto(base_url + "/search?q=&countries=G1")
    assert response.status == 400
    assert "The project description is empty" in page.locator(".error-summary").inner_text()
    screenshot(page, "search-error")
    response = page.goto(base_url + "/organisations/no-such-org")
    assert response.status == 404 and page.locator("h1").inner_text() == "Organisation not found"
    screenshot(page, "not-found")


def test_hostile_text_is_shown_and_never_runs(page, base_url, dialogs):
    page.goto(base_url + "/organisations/fx-hostile-lab")
    assert XSS_SCRIPT in page.locator("h1").inner_text()  # shown as text
    assert XSS_IMG in page.locator(".description").inner_text()
    screenshot(page, "hostile-organisation")
    page.goto(base_url + "/projects/fx-hostile-brief")
    assert XSS_SCRIPT in page.locator("h1").inner_text()
    page.goto(f"{base_url}/search?q=cobalt+tailings+{XSS_SCRIPT}+{XSS_IMG}")
    assert XSS_SCRIPT in page.get_by_label("Your project", exact=True).input_value()
    assert page.locator(".result-link", has_text=XSS_SCRIPT).count() == 1
    screenshot(page, "hostile-search")
    page.wait_for_timeout(300)  # give an injected onerror handler the time it would need
    assert dialogs == []
    assert page.locator("img").count() == 0 and page.locator("main script").count() == 0


@pytest.mark.parametrize(("name", "path"), [
    ("home", "/"),
    ("search", "/search?q=recovering+cobalt+from+mine+tailings&k=5"),
    ("organisation", "/organisations/fx-hostile-lab"),
    ("project", "/projects/fx-brief-magnets"),
    ("projects", "/projects"),
    ("search-error", "/search?q="),
    ("organisations", "/organisations"),
    ("organisations-filtered", "/organisations?country=CA&mineral=nickel"),
    ("refine", "/search?project=fx-brief-magnets"),
    ("page-not-found", "/no-such-page"),
])
def test_phone_width_has_no_horizontal_overflow(browser, base_url, name, path):
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True)
    tab = context.new_page()
    try:
        tab.goto(base_url + path)
        tab.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")  # folded parts too
        widths = tab.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert widths[0] <= widths[1] == PHONE["width"], f"{path} is {widths[0]}px wide at a 390px viewport"
        screenshot(tab, f"{name}-390")
    finally:
        context.close()


def test_keyboard_reaches_the_first_result(page, base_url):
    page.goto(f"{base_url}/search?q=recovering+cobalt+from+mine+tailings&countries=GB")
    page.keyboard.press("Tab")
    skip = page.locator(":focus")
    assert skip.inner_text() == "Skip to main content"
    assert skip.bounding_box()["y"] >= 0  # moved into view when focused
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    first_result = page.locator(".result-link").first.get_attribute("href")
    for presses in range(1, 21):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('result-link')"):
            break
    else:
        pytest.fail("20 presses of Tab after the skip link never reached a result link")
    assert page.evaluate("document.activeElement.getAttribute('href')") == first_result
    # The folded form's "Change this search", the other direction's "UK projects for this idea", then the result.
    assert presses == 3
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # focus is visible
    screenshot(page, "keyboard-focus")


@pytest.mark.integration
def test_page_and_api_agree_on_the_acceptance_query(browser, real_matcher):
    """The issue's acceptance criterion, with the real model: the page shows the API's top five, in order."""
    from service import create_app

    app = create_app({"MATCHER": real_matcher, "TESTING": True, "RATE_LIMIT": ""})
    api = app.test_client().post("/v1/match", json={"text": QUERY, "countries": ["GB"]})
    assert api.status_code == 200
    expected = [r["organisation"]["name"] for r in api.get_json()["results"][:5]]
    assert len(expected) == 5
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        tab = context.new_page()
        with serving(app) as url:
            tab.goto(f"{url}/search?q=recovering+cobalt+from+mine+tailings&countries=GB")
            shown = tab.locator(".result-link").all_inner_texts()[:5]
            screenshot(tab, "acceptance-search")
    finally:
        context.close()
    assert shown == expected


# ------------------------------------------------------------------------------------------- issue 23: search and browse
def axe_violations(tab) -> list[tuple[str, list]]:
    """axe-core's violations on the page as it is now (every rule it runs by default), as (rule, targets)."""
    axe = pytest.importorskip("axe_playwright_python.sync_playwright",
                              reason="axe-core not installed: pip install axe-playwright-python==0.1.8")
    tab.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")  # folded parts are checked too
    results = axe.Axe().run(tab)
    return [(v["id"], [n["target"] for n in v["nodes"]]) for v in results.response["violations"]]


def both_widths(tab, name: str) -> None:
    """Screenshots of the page at 1366×900 and 390×844, then back to the desktop size."""
    tab.set_viewport_size(DESKTOP)
    screenshot(tab, f"{name}-1366")
    tab.set_viewport_size(PHONE)
    screenshot(tab, f"{name}-390")
    tab.set_viewport_size(DESKTOP)


def card_countries(tab) -> set[str]:
    return {t.split("\n")[0] for t in tab.locator("article.card .meta span:first-child").all_inner_texts()}


@pytest.mark.parametrize(("side", "partners"), [("the UK", "Canada"), ("Canada", "United Kingdom")])
def test_the_team_side_picks_the_partner_side(page, base_url, side, partners):
    page.goto(base_url + "/")
    page.get_by_label("Your project", exact=True).fill(QUERY)
    page.get_by_role("group", name="My team is in").get_by_label(side, exact=True).check()
    page.get_by_role("button", name="Find partners").click()
    page.wait_for_url("**/search?**")
    assert "team=" + ("GB" if side == "the UK" else "CA") in page.url
    assert page.locator("article.card").count() >= 2 and card_countries(page) == {partners}
    assert "the other side of the programme" in page.locator(".results-summary").inner_text()
    both_widths(page, f"search-team-{'gb' if side == 'the UK' else 'ca'}")


def test_a_uk_team_finds_canadian_projects_for_its_idea(page, base_url):
    page.goto(base_url + "/")
    page.get_by_label("Your project", exact=True).fill("recycling rare earth magnets from electronic waste")
    page.get_by_role("group", name="My team is in").get_by_label("the UK", exact=True).check()
    page.get_by_role("button", name="Find partners").click()
    page.wait_for_url("**/search?**")
    page.get_by_role("link", name="Canadian projects for this idea").click()
    page.wait_for_url("**/projects?**")
    assert "country=CA" in page.url
    assert page.get_by_label("Team’s country").input_value() == "CA"
    titles = page.locator(".brief-list h2 a")
    assert titles.first.inner_text() == "Recycling rare earth magnets from e-waste"  # fx-brief-magnets, Canadian
    assert "related to “recycling rare earth magnets" in page.locator(".results-summary").inner_text()
    assert set(page.locator(".brief .meta span:first-child").all_inner_texts()) == {"Canada"}
    both_widths(page, "projects-ranked")


def test_several_partner_countries_at_once(page, base_url):
    page.goto(base_url + "/")
    page.get_by_label("Your project", exact=True).fill("lithium recycling")
    partners = page.get_by_role("group", name="Partner countries")
    partners.get_by_label("Canada", exact=True).check()
    partners.get_by_text("Other countries").click()
    partners.get_by_label("United States", exact=True).check()
    page.get_by_label("Results", exact=True).fill("20")
    page.get_by_role("button", name="Find partners").click()
    page.wait_for_url("**/search?**")
    assert "countries=CA" in page.url and "countries=US" in page.url
    api = page.request.post(base_url + "/v1/match", data={"text": "lithium recycling", "countries": ["CA", "US"],
                                                          "k": 20}).json()
    assert page.locator(".result-link").all_inner_texts() == [r["organisation"]["name"] for r in api["results"]]
    assert card_countries(page) == {"Canada", "United States"}
    page.get_by_text("Change this search").click()
    assert partners.get_by_label("Canada", exact=True).is_checked() and partners.get_by_label("United States").is_checked()
    both_widths(page, "search-countries")


@pytest.fixture(scope="module")
def weak_base_url(tmp_path_factory) -> Iterator[str]:
    """The fixture corpus with a weak threshold between its best and second-best fit for QUERY (as in
    tests/test_pages.py's strict_client)."""
    from service import create_app

    settings = Settings(data_dir=tmp_path_factory.mktemp("weak-var"), corpus_dir=FIXTURE_CORPUS, weak_below=0.2)
    matcher = PartnerMatcher(settings, embedder=FakeEmbedder(dim=256)).open()
    matcher.ensure_index()
    app = create_app({"MATCHER": matcher, "TESTING": True, "RATE_LIMIT": ""})
    with serving(app) as url:
        yield url
    matcher.close()


def test_weak_results_are_folded_and_can_be_shown(page, weak_base_url):
    page.goto(f"{weak_base_url}/search?q=recovering+cobalt+from+mine+tailings&k=3&countries=GB,CA,US")
    weak = page.locator(".results-weak article.card")
    assert weak.count() == 2 and not weak.first.is_visible()
    page.get_by_text("2 weak results: show them").click()
    assert weak.first.is_visible() and weak.first.locator(".weak-note").is_visible()
    both_widths(page, "search-weak-shown")


def test_a_phone_sees_the_first_result_at_once(browser, base_url):
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True)
    try:
        tab = context.new_page()
        tab.goto(f"{base_url}/search?q=recovering+cobalt+from+mine+tailings&team=CA")
        box = tab.locator("article.card").first.bounding_box()
        assert box is not None and box["y"] < PHONE["height"] / 2, f"the first result starts {box}px down"
        table = tab.locator("article.card").first.locator("table.chart").first
        assert not table.is_visible()  # the score table waits behind "Details"
        tab.locator("article.card").first.get_by_text("Details").click()
        assert table.is_visible()
        screenshot(tab, "search-first-result-390")
    finally:
        context.close()


def test_browse_and_filter_organisations_then_open_one(page, base_url):
    page.goto(base_url + "/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Organisations").click()
    page.wait_for_url("**/organisations")
    assert page.locator(".org-list h2").count() >= 9
    page.get_by_label("Country", exact=True).select_option("CA")
    page.get_by_label("Mineral", exact=True).select_option("nickel")
    page.get_by_role("button", name="Show organisations").click()
    page.wait_for_url("**/organisations?**")
    names = page.locator(".org-list h2").all_inner_texts()
    assert names == ["Fixture Nickel Mining Company", "Fixture Tailings Reprocessing Institute"]
    assert page.get_by_label("Country", exact=True).input_value() == "CA"  # the filters stay as chosen
    both_widths(page, "organisations-filtered")
    page.get_by_label("Name or words").fill("tailings")
    page.get_by_role("button", name="Show organisations").click()
    page.wait_for_url("**q=tailings**")
    page.get_by_role("link", name="Fixture Tailings Reprocessing Institute").click()
    page.wait_for_url("**/organisations/fx-tailings-lab")
    assert page.locator("h1").inner_text() == "Fixture Tailings Reprocessing Institute"


def test_unknown_pages_are_html_404_pages(page, base_url):
    response = page.goto(base_url + "/no-such-page")
    assert response.status == 404 and response.headers["content-type"].startswith("text/html")
    assert page.locator("h1").inner_text() == "Page not found"
    both_widths(page, "page-not-found")
    api = page.request.get(base_url + "/v1/no-such-thing")
    assert api.status == 404 and api.json()["error"]["code"] == "not_found"


def test_project_actions_refine_and_shortlist(page, base_url):
    page.goto(base_url + "/projects")
    page.get_by_label("Challenge area").select_option("1")
    page.get_by_role("button", name="Show briefs").click()
    page.wait_for_url("**/projects?**")
    assert page.locator(".brief-list h2").all_inner_texts() == ["Cobalt from mine tailings"]
    page.goto(base_url + "/projects/fx-brief-magnets")
    both_widths(page, "project-actions")
    page.get_by_role("link", name="Refine this search").click()
    page.wait_for_url("**/search?project=fx-brief-magnets")
    brief = page.get_by_label("Your project", exact=True)
    assert brief.is_visible() and brief.input_value().startswith("Recycling rare earth magnets")
    assert page.get_by_role("group", name="My team is in").get_by_label("Canada", exact=True).is_checked()
    assert page.get_by_label("United Kingdom", exact=True).is_checked()
    brief.fill(brief.input_value() + " Also NdFeB magnet manufacturing.")
    page.get_by_role("button", name="Find partners").click()
    page.wait_for_url("**/search?q=**")
    assert page.locator("article.card").count() >= 1 and card_countries(page) == {"United Kingdom"}
    page.goto(base_url + "/projects/fx-brief-magnets")
    page.get_by_role("link", name="Shortlist this project").click()
    page.wait_for_url("**/shortlists?project=fx-brief-magnets")
    assert page.locator("#scope-chosen").is_checked()
    assert page.locator("#project-ids").evaluate("s => [...s.selectedOptions].map(o => o.value)") == [
        "fx-brief-magnets"]
    both_widths(page, "shortlist-this-project")


@pytest.mark.parametrize(("name", "path"), [
    ("home", "/"),
    ("search", "/search?q=recovering+cobalt+from+mine+tailings&team=CA"),
    ("search-countries", "/search?q=lithium+recycling&countries=CA&countries=US&k=20"),
    ("search-refine", "/search?project=fx-brief-magnets"),
    ("search-error", "/search?q=&team=UK"),
    ("organisations", "/organisations"),
    ("organisations-filtered", "/organisations?country=CA&mineral=nickel&q=fixture"),
    ("organisations-bad-filter", "/organisations?mineral=kryptonite"),
    ("organisation", "/organisations/fx-tailings-lab"),
    ("projects", "/projects"),
    ("projects-filtered", "/projects?challenge=1"),
    ("projects-ranked", "/projects?q=recycling+rare+earth+magnets&country=CA"),
    ("projects-off-topic", "/projects?q=chocolate+cake+recipe"),
    ("search-uk-team", "/search?q=recycling+rare+earth+magnets&team=GB"),
    ("project", "/projects/fx-brief-magnets"),
    ("page-not-found", "/no-such-page"),
    ("bad-page-number", "/projects?page=9223372036854775808"),
])
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1366", "390"])
def test_axe_finds_no_violation(browser, base_url, name, path, viewport):
    # Reduced motion: axe reads colours as they settle, not halfway through a hover or focus transition.
    context = browser.new_context(viewport=viewport, reduced_motion="reduce")
    try:
        tab = context.new_page()
        tab.goto(base_url + path)
        assert axe_violations(tab) == []
    finally:
        context.close()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1366", "390"])
def test_a_records_history_opens_and_has_no_axe_violation(browser, base_url, viewport):
    context = browser.new_context(viewport=viewport, reduced_motion="reduce")
    try:
        tab = context.new_page()
        for path, what in (("/organisations/fx-hostile-lab", "organisation"), ("/projects/fx-hostile-brief",
                                                                                "project brief")):
            tab.goto(base_url + path)
            history = tab.get_by_role("region", name="History")
            history.locator("summary").click()
            table = history.get_by_role("table", name=f"Changes to this {what}, newest first")
            sync_api.expect(table).to_be_visible()
            cells = table.locator("tbody tr").first.locator("td").all_inner_texts()
            assert re.fullmatch(r"\d+ \w{3} \d{4}, \d\d:\d\d UTC", cells[0]) and cells[1:] == ["Created", "ann"]
            assert axe_violations(tab) == []
            assert tab.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
            screenshot(tab, f"history-{what.split()[0]}-{viewport['width']}")
    finally:
        context.close()


def test_weak_results_page_has_no_axe_violation(page, weak_base_url):
    page.goto(f"{weak_base_url}/search?q=recovering+cobalt+from+mine+tailings&k=3&countries=GB,CA,US")
    assert axe_violations(page) == []


# ------------------------------------------------------------------------------------------- officers' shortlists
KEY = "officer-key"
CALL = [p[0] for p in EXTRA_PROJECTS]
SMALL_CALL = {"project_ids": CALL, "per_project": 3, "max_per_organisation": 1, "countries": ["GB"],
              "min_per_type": {"company": 1}}


@pytest.fixture(scope="module")
def officer(tmp_path_factory) -> Iterator[tuple[str, PartnerMatcher]]:
    """An app with an API key over the fixture corpus, the fictional call of tests/test_shortlists.py (added as
    its ``call`` fixture adds it) and the hostile records; yields (base URL, matcher)."""
    from service import create_app

    settings = Settings(data_dir=tmp_path_factory.mktemp("officer-var"), corpus_dir=FIXTURE_CORPUS)
    matcher = PartnerMatcher(settings, embedder=FakeEmbedder(dim=256)).open()
    matcher.ensure_index()
    for oid, org_type, text in EXTRA_GB:
        matcher.save_organisation(Organisation(id=oid, name=oid.replace("-", " ").title(), country="GB",
                                               org_type=org_type, description=f"Fixture record for tests. {text}"))
    for pid, title, summary in EXTRA_PROJECTS:
        matcher.save_project(Project(id=pid, title=title, summary=summary, country="CA", seeking_countries=["GB"],
                                     lead_organisation_id="fx-tailings-lab"))
    matcher.save_organisation(hostile_organisation())
    matcher.save_project(hostile_project())
    app = create_app({"MATCHER": matcher, "TESTING": True, "RATE_LIMIT": "", "API_KEYS": [KEY]})
    with serving(app) as url:
        yield url, matcher
    matcher.close()


def start_job(tab, base: str, matcher: PartnerMatcher, body: dict) -> dict:
    """A shortlist started through the API and run to the end; returns it with its assignments."""
    started = tab.request.post(f"{base}/v1/shortlists", data=body, headers={"X-API-Key": KEY})
    assert started.status == 202, started.text()
    matcher.shortlists.wait()
    return tab.request.get(f"{base}/v1/shortlists/{started.json()['id']}", headers={"X-API-Key": KEY}).json()


def enter_key(tab, key: str = KEY) -> None:
    tab.get_by_label("Officer API key").fill(key)
    tab.get_by_role("button", name="Use this key").click()
    sync_api.expect(tab.locator("#key-status")).to_have_text(
        "Key accepted: your decisions are recorded as “key-1”." if key == KEY else "This key was refused.")


def fill_call(tab, per_project: str) -> None:
    """The start form, filled as an officer would for SMALL_CALL (with ``per_project`` as typed)."""
    tab.get_by_label("Only the projects I choose").check()
    tab.get_by_label("Projects to shortlist").select_option(CALL)
    tab.get_by_label("Partners per project", exact=True).fill(per_project)
    tab.get_by_label("Max lists per organisation").fill("1")
    tab.get_by_label("Minimum companies per project").fill("1")
    tab.get_by_label("United Kingdom").check()


def test_officer_starts_watches_decides_and_exports(page, officer):
    base, matcher = officer
    expect = sync_api.expect
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    page.goto(base + "/shortlists")
    enter_key(page)
    fill_call(page, "3")
    screenshot(page, "shortlists")
    # Hold the one job worker, so the new job is seen queued; the page must then poll its way to the result.
    gate = threading.Event()
    matcher.shortlists._executor.submit(gate.wait, 30)
    try:
        page.get_by_role("button", name="Start shortlist").click()
        page.wait_for_url(re.compile(r"/shortlists/[0-9a-f]{32}$"))
        expect(page.locator("#progress-label")).to_have_text("Queued: waiting to start")
        expect(page.locator("#summary-panel")).to_be_hidden()
        screenshot(page, "shortlist-progress")
    finally:
        gate.set()
    # The job's own run time is not the page's to bound (a cold first run imports the solver): wait generously.
    expect(page.locator("#summary-panel")).to_be_visible(timeout=30_000)
    expect(page.locator("#messages")).to_contain_text("The shortlist is ready. 9 partners over 3 projects.")
    expect(page.locator("#progress-panel")).to_be_hidden()

    job_id = page.url.rsplit("/", 1)[1]
    job = page.request.get(f"{base}/v1/shortlists/{job_id}", headers={"X-API-Key": KEY}).json()
    assert job["status"] == "done" and job["request"]["project_ids"] == CALL and len(job["assignments"]) == 9
    # The page shows the API's shortlist: grouped by project, each partner linked, its load charted.
    assert page.locator(".group-head th").all_inner_texts() == [f"{p[1]} 3 partners" for p in sorted(EXTRA_PROJECTS)]
    partners = page.locator("tr.assignment .org-link")  # the table's; the load chart (after it) links them too
    assert partners.all_inner_texts() == [a["organisation_name"] for a in job["assignments"]]
    first = job["assignments"][0]
    assert partners.first.get_attribute("href") == f"/organisations/{first['organisation_id']}"
    assert page.locator("#load-rows tr").count() == job["summary"]["organisations_used"] == 9
    # The load chart, folded after the table, names each organisation (linked to its page), never its id.
    page.locator("#load-panel summary").click()
    names = {a["organisation_id"]: a["organisation_name"] for a in job["assignments"]}
    assert page.locator("#load-rows th").all_inner_texts() == [names[o] for o in job["summary"]["load"]]
    assert page.locator("#load-rows th a").evaluate_all("links => links.map(a => a.getAttribute('href'))") == [
        f"/organisations/{o}" for o in job["summary"]["load"]]
    assert page.locator(".stat", has_text="Partners").locator(".stat-value").inner_text() == "9"
    assert page.locator(".stat", has_text="Max load").locator(".stat-value").inner_text() == "1 list"
    assert page.locator("#greedy-note").inner_text().startswith("Compared with greedy")
    screenshot(page, "shortlist")

    # Accept the first partner with a note; the decision is still there after a reload.
    note = "Strong fit: confirmed with the project lead"
    card = page.locator("tr.assignment").first
    card.locator(".decision-note").fill(note)
    card.get_by_role("button", name="Accept").click()
    expect(card.locator(".decision-badge")).to_have_text("Accepted")
    expect(page.locator("#messages")).to_contain_text("Decision saved.")
    page.reload()
    card = page.locator("tr.assignment").first
    expect(card.locator(".decision-badge")).to_have_text("Accepted")
    expect(card.locator(".decision-note")).to_have_value(note)
    expect(card.get_by_role("button", name="Accept")).to_have_attribute("aria-pressed", "true")
    assert page.locator(".decision-badge", has_text="Undecided").count() == 8
    screenshot(page, "shortlist-decided")

    # Downloads: fetched with the key header, saved from a blob.
    def download(button: str):
        with page.expect_download() as info:
            page.get_by_role("button", name=button).click()
        return info.value

    exported = download("Assignments (CSV)")
    assert exported.suggested_filename == f"shortlist-{job_id}.csv"
    rows = list(csv.DictReader(io.StringIO(Path(exported.path()).read_text())))
    assert len(rows) == len(job["assignments"])  # one row per assignment
    assert [(r["project_id"], r["organisation_id"]) for r in rows] == [
        (a["project_id"], a["organisation_id"]) for a in job["assignments"]]
    assert (rows[0]["decision"], rows[0]["note"]) == ("accepted", note)
    history = list(csv.DictReader(io.StringIO(Path(download("Decision history (CSV)").path()).read_text())))
    assert [(h["organisation_id"], h["decision"], h["note"]) for h in history] == [  # saved as typed, then decided
        (first["organisation_id"], "note", note), (first["organisation_id"], "accepted", note)]
    from openpyxl import load_workbook

    book = download("Workbook (XLSX)")
    assert book.suggested_filename == f"shortlist-{job_id}.xlsx"
    workbook = load_workbook(io.BytesIO(Path(book.path()).read_bytes()))  # the saved file has no extension
    assert workbook.sheetnames == ["assignments", "load", "decisions", "settings"]
    assert workbook["assignments"].max_row == 10

    # The list of earlier shortlists shows it, done; the key never left the tab's session storage.
    page.get_by_role("link", name="All shortlists").click()
    item = page.locator(".job", has=page.locator(f'a[href="/shortlists/{job_id}"]'))
    expect(item.locator(".status")).to_have_text("Done")
    expect(item).to_contain_text("3 projects")
    screenshot(page, "shortlists-list")
    assert page.evaluate("sessionStorage.getItem('partner-matcher.api-key')") == KEY
    assert page.context.cookies() == [] and not any(KEY in url for url in urls)


def test_the_api_errors_are_shown_in_the_live_region(page, officer):
    base, matcher = officer
    expect = sync_api.expect
    page.goto(base + "/shortlists")
    messages = page.locator("#messages")
    assert messages.get_attribute("role") == "status" and messages.get_attribute("aria-live") == "polite"
    enter_key(page, "not-the-key")  # checked at once, and refused
    expect(messages).to_contain_text("The key was not accepted (error 403). "
                                     "The X-API-Key is not valid for this service.")
    expect(messages).to_contain_text("check it for typing mistakes")
    enter_key(page)
    expect(messages).to_be_empty()

    fill_call(page, "0")  # checked in the page first, with the field named
    page.get_by_role("button", name="Start shortlist").click()
    expect(messages).to_contain_text("“Partners per project” must be a whole number from 1 to 50; it is “0”.")
    assert page.evaluate("document.activeElement.id") == "per-project"
    expect(page.get_by_label("Partners per project", exact=True)).to_have_attribute("aria-invalid", "true")

    # 3 projects × 4 partners, each organisation on one list at most: more places than UK organisations.
    page.get_by_label("Partners per project", exact=True).fill("4")
    body = {**SMALL_CALL, "per_project": 4}
    refused = page.request.post(f"{base}/v1/shortlists", data=body, headers={"X-API-Key": KEY}).json()["error"]
    assert refused["details"]["constraint"] == "max_per_organisation" and "(short by 1)" in refused["message"]
    page.get_by_role("button", name="Start shortlist").click()
    expect(messages).to_contain_text("The shortlist was not started (error 422).")
    # The API's message, with its field names in the form's words.
    in_form_words = re.sub(r"\bcountries\b", "the partner countries", refused["message"].replace(
        "max_per_organisation", "“Max lists per organisation”"))
    assert "(short by 1); raise “Max lists per organisation” or widen the partner countries" in in_form_words
    expect(messages).to_contain_text(in_form_words)
    expect(messages).to_be_visible()
    assert page.url == base + "/shortlists"
    screenshot(page, "shortlists-422")

    page.goto(base + "/shortlists/0123456789abcdef0123456789abcdef")
    expect(messages).to_contain_text("The shortlist could not be loaded (error 404).")
    # A job that failed in the background (recorded as the job runner records one) says why, and what to do.
    failed = matcher.shortlists.store.create(SMALL_CALL)
    matcher.shortlists.store.fail(failed, {"code": "infeasible_constraints", "details": None,
                                           "message": "the greedy baseline filled only 8 of 9 places (short by 1)"})
    page.goto(f"{base}/shortlists/{failed}")
    expect(messages).to_contain_text("This shortlist failed. The greedy baseline filled only 8 of 9 places (short by 1).")
    expect(messages.locator(".message-hint")).to_have_text(
        "Change the settings and start a new shortlist from the Shortlists page.")
    expect(page.locator(".officer .intro .status")).to_have_text("Failed")
    assert page.locator("#summary-panel").is_hidden() and page.locator("#progress-panel").is_hidden()
    page.locator("#key-panel summary").click()  # folded once the key was accepted
    page.get_by_role("button", name="Forget key").click()
    page.reload()
    expect(messages).to_contain_text("Enter your API key to see this shortlist.")


def test_hostile_names_in_a_shortlist_show_as_text(page, officer, dialogs):
    base, matcher = officer
    uk = page.request.get(f"{base}/v1/organisations?countries=GB&per_page=100").json()["items"]
    eligible = len([o for o in uk if o["org_type"] != "funder"])  # every one: the hostile lab is certainly listed
    job = start_job(page, base, matcher, {"project_ids": ["fx-hostile-brief"], "per_project": eligible})
    assert "fx-hostile-lab" in {a["organisation_id"] for a in job["assignments"]}
    page.goto(base + "/shortlists")
    enter_key(page)
    page.goto(f"{base}/shortlists/{job['id']}")
    name, title = hostile_organisation().name, hostile_project().title
    # Wherever the names appear they are the literal text: the table's link and project heading, the filters' and
    # the conflict picker's options, and the load chart (folded after the table; opened to be seen).
    link = page.locator("tr.assignment .org-link", has_text=XSS_SCRIPT)
    sync_api.expect(link).to_have_count(1)
    assert link.inner_text() == name and link.get_attribute("href") == "/organisations/fx-hostile-lab"
    assert page.locator(".group-head th").inner_text() == f"{title} {eligible} partners"
    assert page.locator("#filter-organisation option", has_text=XSS_SCRIPT).all_inner_texts() == [name]
    assert page.locator("#filter-project option", has_text=XSS_SCRIPT).all_inner_texts() == [title]
    assert page.locator("#conflict-project option").all_inner_texts() == [title]
    page.locator("#load-panel summary").click()
    load_link = page.locator("#load-rows a", has_text=XSS_SCRIPT)
    assert load_link.count() == 1 and load_link.inner_text() == name
    assert load_link.get_attribute("href") == "/organisations/fx-hostile-lab"
    screenshot(page, "shortlist-hostile")
    page.wait_for_timeout(300)  # the time an injected handler would need
    assert dialogs == [] and page.locator("img").count() == 0 and page.locator("script").count() == 1
    assert XSS_IMG not in page.content().replace("&gt;", ">").replace("&lt;", "<").split("<main", 1)[0]


def test_a_decision_by_keyboard(page, officer):
    base, matcher = officer
    job = start_job(page, base, matcher, {**SMALL_CALL, "project_ids": CALL[:1]})
    page.goto(base + "/shortlists")
    page.get_by_label("Officer API key").focus()
    page.keyboard.type(KEY)
    page.keyboard.press("Enter")  # submits the key form
    sync_api.expect(page.locator("#key-status")).to_have_text("Key accepted: your decisions are recorded as “key-1”.")
    page.goto(f"{base}/shortlists/{job['id']}")
    card = page.locator("tr.assignment").nth(1)
    card.locator(".decision-note").focus()
    page.keyboard.type("second choice")
    page.keyboard.press("Shift+Tab")  # the row reads Accept, Reject, Clear, then the note
    assert page.evaluate("document.activeElement.textContent").startswith("Clear")
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.activeElement.dataset.decision") == "rejected"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    page.keyboard.press("Enter")
    sync_api.expect(card.locator(".decision-badge")).to_have_text("Rejected")
    second = job["assignments"][1]
    saved = page.request.get(f"{base}/v1/shortlists/{job['id']}", headers={"X-API-Key": KEY}).json()["assignments"][1]
    assert (saved["organisation_id"], saved["decision"], saved["note"]) == (
        second["organisation_id"], "rejected", "second choice")


@pytest.mark.parametrize("name", ["shortlists", "shortlist"])
def test_officer_pages_fit_a_phone(browser, officer, name):
    base, matcher = officer
    context = browser.new_context(viewport={"width": 375, "height": 812}, device_scale_factor=2, is_mobile=True)
    tab = context.new_page()
    try:
        tab.goto(base + "/shortlists")
        enter_key(tab)
        if name == "shortlist":
            job = start_job(tab, base, matcher, SMALL_CALL)
            tab.goto(f"{base}/shortlists/{job['id']}")
            sync_api.expect(tab.locator("tr.assignment")).to_have_count(9)
        widths = tab.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert widths[0] <= widths[1] == 375, f"{name} is {widths[0]}px wide at a 375px viewport"
        screenshot(tab, f"{name}-375")
    finally:
        context.close()


def test_an_organisation_deleted_after_its_shortlist_is_shown_deleted_not_linked(page, officer):
    base, matcher = officer
    page.goto(base + "/shortlists")
    enter_key(page)
    job = start_job(page, base, matcher, SMALL_CALL)
    gone = job["assignments"][0]
    record = matcher.get_organisation(gone["organisation_id"])
    matcher.delete_organisation(record.id)
    try:
        page.goto(f"{base}/shortlists/{job['id']}")
        sync_api.expect(page.locator("tr.assignment")).to_have_count(9)
        row = page.locator(f'tr.assignment[data-pair="{gone["project_id"]}|{gone["organisation_id"]}"]')
        sync_api.expect(row.locator(".org-deleted")).to_have_text(f"{gone['organisation_name']} (deleted)")
        assert row.locator("a").count() == 0  # no link to a page that is gone
        # Its decision can no longer change: Accept, Reject and Clear, and the note, all disabled.
        assert row.locator("[data-decision]").evaluate_all("buttons => buttons.map(b => b.disabled)") == [True, True]
        assert row.locator("button").evaluate_all("buttons => buttons.map(b => b.disabled)") == [True, True, True]
        sync_api.expect(row.locator(".decision-note")).to_be_disabled()
        sync_api.expect(row.locator(".deleted-note")).to_contain_text("deleted after this shortlist was made")
        assert page.locator("tr.assignment a.org-link").count() == 8
        page.locator("#load-panel summary").click()  # the load chart, folded after the table
        load_row = page.locator("#load-rows tr", has_text=gone["organisation_name"])
        assert load_row.count() == 1 and load_row.locator("a").count() == 0
        assert load_row.locator("th").inner_text() == f"{gone['organisation_name']} (deleted)"
        assert page.locator("#load-rows a").count() == 8
    finally:
        matcher.save_organisation(record)  # the module's other tests share this corpus
