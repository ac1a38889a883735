"""The bundled corpus: real organisations with sources, illustrative briefs labelled as such."""

from collections import Counter
from urllib.parse import urlparse

import pytest

from corpus import load_challenges, load_organisations, load_projects


@pytest.fixture(scope="module")
def orgs():
    return load_organisations()


def test_corpus_size_and_spread(orgs):
    countries = Counter(o.country for o in orgs)
    assert len(orgs) >= 300 and countries["GB"] >= 120 and countries["CA"] >= 120 and countries["US"] >= 15
    assert set(Counter(o.org_type for o in orgs)) == {"university", "college", "government_lab", "rto", "company", "non_profit", "funder"}


def test_every_organisation_is_complete_and_sourced(orgs):
    for o in orgs:
        assert o.id.startswith(o.country.lower() + "-"), o.id
        assert o.sources, f"{o.id} has no sources"
        assert o.value_chain_stages, f"{o.id} has no value-chain stages"
        for s in o.sources:
            assert s.ref.startswith("seed:") or urlparse(s.ref).scheme in {"http", "https"}, (o.id, s.ref)
        if o.website:
            assert urlparse(o.website).netloc, o.id


def test_profiles_are_substantial(orgs):
    thin = [o.id for o in orgs if len(o.description.split()) < 60]
    assert len(thin) <= 0.05 * len(orgs), thin


def test_names_and_aliases_are_unique(orgs):
    names = Counter(o.name.lower() for o in orgs)
    assert [n for n, c in names.items() if c > 1] == []


def test_seed_references_name_real_seed_documents(orgs):
    seeds = {"innovate-uk-gem-critical-materials-canada-us-report.txt", "ukri-ispf-uk-canada-critical-minerals-programme.txt"}
    for o in orgs:
        for s in o.sources:
            if s.ref.startswith("seed:"):
                assert s.ref[5:].split("#")[0] in seeds, (o.id, s.ref)


def test_project_briefs_are_labelled_and_cover_both_directions_and_challenges(orgs):
    projects = load_projects()
    assert len(projects) >= 40
    ids = {o.id for o in orgs}
    for p in projects:
        assert p.illustrative or p.sources, p.id
        if p.illustrative:
            assert p.summary.lower().startswith("illustrative"), p.id
        assert p.lead_organisation_id is None or p.lead_organisation_id in ids
    assert {p.country for p in projects} >= {"GB", "CA"}
    assert {c for p in projects for c in p.challenge_areas} == {1, 2}


def test_two_challenge_areas():
    assert [c.id for c in load_challenges()] == [1, 2]


def test_development_briefs_are_labelled_against_real_records(orgs):
    from corpus import default_data_dir
    from matcher.evaluation import load_briefs

    briefs = load_briefs(default_data_dir() / "evaluation" / "dev-briefs.jsonl")
    by_id = {o.id: o for o in orgs}
    assert len(briefs) >= 30 and {b.split for b in briefs} == {"train", "test"}
    for b in briefs:
        assert any(g == 2 for g in b.relevant.values()), b.id
        for org_id, grade in b.relevant.items():
            assert org_id in by_id and by_id[org_id].country in b.countries and grade in (1, 2), (b.id, org_id)
            assert by_id[org_id].org_type != "funder"


def test_every_evaluation_label_is_backed_by_a_quote_from_the_record(orgs):
    """Each family item quotes every labelled organisation, and every quote is in that organisation's own record."""
    import re

    from corpus import default_data_dir
    from matcher.evaluation import load_briefs

    briefs = load_briefs(default_data_dir() / "evaluation")
    by_id = {o.id: o for o in orgs}
    record = {o.id: "\n".join([o.description, *o.keywords, *(t for d in o.documents for t in (d.title, d.text))])
              for o in orgs}
    quoted = 0
    for b in briefs:
        quotes = re.findall(r"([a-z0-9][a-z0-9-]+) \(“(.*?)”", b.note)
        for org_id, quote in quotes:
            assert quote in record[org_id], (b.id, org_id, quote)
        for org_id in b.relevant:
            assert by_id[org_id].country in b.countries and by_id[org_id].org_type != "funder", (b.id, org_id)
            if b.family != "dev":
                assert org_id in {o for o, _ in quotes}, (b.id, org_id)
        quoted += len(quotes)
    assert len(briefs) == 207 and quoted >= 1100
def test_every_seed_source_of_the_bundled_corpus_has_a_title():
    """Pages show a seed source by its document's title and section heading (corpus/data/seed_documents.json)."""
    import re
    from importlib import resources

    from corpus.seeds import seed_documents, seed_title

    data = resources.files("corpus").joinpath("data")
    refs = {m.group(0)[:-1] for folder in ("organisations", "projects") for f in data.joinpath(folder).iterdir()
            for m in re.finditer(r'seed:[^"]+"', f.read_text(encoding="utf-8"))}
    assert refs
    for ref in refs:
        name, _, section = ref[len("seed:"):].partition("#")
        assert section in seed_documents()[name]["sections"], ref
        assert seed_title(ref) == f"{seed_documents()[name]['title']}: {seed_documents()[name]['sections'][section]}"
    assert seed_title("https://example.org") is None and seed_title("seed:unknown.txt#x") == "seed:unknown.txt#x"
