"""The researchers' pages in real headless Chromium (Debian's, installed by scripts/browser.sh), via Playwright.

The app runs on 127.0.0.1 on a free port in a background thread, over the fake-embedder fixture corpus plus two
hostile records. Each page's full-page screenshot is saved under test-artifacts/screenshots/ for people to look at.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from embeddings import FakeEmbedder
from matcher import PartnerMatcher, Settings
from tests.conftest import FIXTURE_CORPUS
from tests.test_pages import XSS_IMG, XSS_SCRIPT, hostile_organisation, hostile_project

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"
QUERY = "recovering cobalt from mine tailings"

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
    matcher.save_organisation(hostile_organisation())
    matcher.save_project(hostile_project())
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
    context = browser.new_context(viewport={"width": 1280, "height": 900})
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
    page.get_by_label("Partner country").select_option("GB")
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
])
def test_phone_width_has_no_horizontal_overflow(browser, base_url, name, path):
    context = browser.new_context(viewport={"width": 375, "height": 812}, device_scale_factor=2, is_mobile=True)
    tab = context.new_page()
    try:
        tab.goto(base_url + path)
        widths = tab.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert widths[0] <= widths[1] == 375, f"{path} is {widths[0]}px wide at a 375px viewport"
        screenshot(tab, f"{name}-375")
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
    assert presses == 7  # the query, three selectors, the number of results, the button, then the first result
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
