"""/docs in real headless Chromium: Swagger UI renders the OpenAPI 3.1 document, offline, under its CSP, and
axe-core (the copy the axe-playwright-python package ships) finds no accessibility violation.

Same set-up as tests/test_browser.py: Debian's Chromium (scripts/browser.sh), the app on a free local port over the
fake-embedder fixture corpus, screenshots under test-artifacts/screenshots/.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from embeddings import FakeEmbedder
from matcher import PartnerMatcher, Settings
from tests.conftest import FIXTURE_CORPUS
from tests.test_browser import CHROMIUM, screenshot, serving

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium not installed: run scripts/browser.sh")
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright not installed: pip install playwright==1.65.2")
axe_playwright = pytest.importorskip("axe_playwright_python.sync_playwright",
                                     reason="axe-playwright-python not installed: pip install -e '.[dev]'")


@pytest.fixture(scope="module")
def docs_url(tmp_path_factory) -> Iterator[str]:
    from service import create_app

    settings = Settings(data_dir=tmp_path_factory.mktemp("docs-var"), corpus_dir=FIXTURE_CORPUS)
    matcher = PartnerMatcher(settings, embedder=FakeEmbedder(dim=64)).open()
    matcher.ensure_index()
    app = create_app({"MATCHER": matcher, "TESTING": True, "RATE_LIMIT": ""})
    with serving(app) as url:
        yield url
    matcher.close()


@pytest.mark.parametrize(("name", "viewport"), [("docs", (1366, 900)), ("docs-390", (390, 844))])
def test_docs_render_the_document_with_no_accessibility_violations(docs_url, name, viewport):
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]},
                                      reduced_motion="reduce")
        tab = context.new_page()
        tab.set_default_timeout(15_000)
        problems: list[str] = []
        outside: list[str] = []
        tab.on("pageerror", lambda error: problems.append(f"script error: {error}"))
        tab.on("console", lambda m: m.type == "error" and problems.append(m.text))
        tab.on("request", lambda r: r.url.startswith(docs_url) or r.url.startswith("data:") or outside.append(r.url))
        try:
            tab.goto(docs_url + "/docs")
            tab.locator(".opblock").first.wait_for()  # an operation is drawn: the 3.1 document was understood
            spec = tab.request.get(docs_url + "/openapi.json").json()
            operations = sum(len(ops) for ops in spec["paths"].values())
            assert tab.locator(".opblock").count() == operations
            assert tab.get_by_text("Unable to render").count() == 0
            assert tab.locator("h2.title", has_text="Partner Matcher API").count() == 1
            # Opening an operation shows its documented request and response examples, and its 429.
            for operation in ("matching-v1_match", "organisations-v1_list_organisations", "shortlists-v1_shortlists_decide"):
                tab.locator(f"#operations-{operation} .opblock-summary-control").click()
                tab.locator(f"#operations-{operation} .responses-table").first.wait_for()
            opened = tab.locator("#operations-matching-v1_match")
            assert opened.locator("tr.response[data-code='429']").count() == 1
            assert opened.locator("tr.response[data-code='400']").get_by_text("did you mean 'GB'?").count() == 1
            assert "recycling rare earth magnets" in opened.locator(".body-param__example").inner_text()
            assert '"results"' in opened.locator("tr.response[data-code='200'] .example").inner_text()
            listing = tab.locator("#operations-organisations-v1_list_organisations")
            assert listing.locator("tr.response[data-code='304']").count() == 1
            tab.locator(".models-control").click()  # the schemas section, opened
            widths = tab.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
            assert widths[0] <= widths[1] == viewport[0], f"/docs is {widths[0]}px wide at {viewport[0]}px"
            screenshot(tab, name)
            results = axe_playwright.Axe().run(tab)
            assert results.violations_count == 0, results.generate_snapshot()
            assert problems == [] and outside == []
        finally:
            context.close()
            browser.close()
