import json

import pytest

from corpus import CorpusError, Organisation, Project, corpus_hash, load_challenges, load_organisations, load_records
from tests.conftest import FIXTURE_CORPUS


def test_fixture_corpus_loads():
    orgs = load_organisations(FIXTURE_CORPUS)
    assert len(orgs) == 9 and all(isinstance(o, Organisation) for o in orgs)


def test_jsonl_errors_name_file_line_and_field(tmp_path):
    path = tmp_path / "orgs.jsonl"
    good = dict(id="a", name="A", country="GB", org_type="company", description="d")
    path.write_text(json.dumps(good) + "\n\n" + json.dumps({**good, "id": "b", "country": "Britain"}) + "\n")
    with pytest.raises(CorpusError) as e:
        load_records(path, Organisation)
    assert "orgs.jsonl line 3" in str(e.value) and "country" in str(e.value)
    assert e.value.problems == [{"where": "orgs.jsonl line 3", "field": "country", "message": e.value.problems[0]["message"]}]


def test_jsonl_bad_json_and_duplicate_ids(tmp_path):
    path = tmp_path / "orgs.jsonl"
    path.write_text('{"id": "a",\n')
    with pytest.raises(CorpusError, match="line 1: not valid JSON"):
        load_records(path, Organisation)
    good = json.dumps(dict(id="a", name="A", country="GB", org_type="company", description="d"))
    path.write_text(good + "\n" + good + "\n")
    with pytest.raises(CorpusError, match="duplicate id 'a'"):
        load_records(path, Organisation)


def test_csv_loader_splits_lists_and_names_lines(tmp_path):
    path = tmp_path / "projects.csv"
    path.write_text(
        "id,title,summary,country,minerals,challenge_areas,sources\n"
        "p1,Magnets,Recycle magnets,CA,REE; Li,2,https://example.org\n"
        "p2,Tailings,Reprocess tailings,XX1,cobalt,1,\n",
        encoding="utf-8",
    )
    with pytest.raises(CorpusError) as e:
        load_records(path, Project)
    assert "projects.csv line 3" in str(e.value) and "country" in str(e.value)
    path.write_text(path.read_text().replace("XX1", "GB"))
    p1, p2 = load_records(path, Project)
    assert p1.minerals == ["rare_earth_elements", "lithium"] and p1.challenge_areas == [2]
    assert p1.sources[0].ref == "https://example.org" and p2.sources == []


def test_non_utf8_and_unknown_extension(tmp_path):
    bad = tmp_path / "orgs.jsonl"
    bad.write_bytes(b'{"id": "\xff"}\n')
    with pytest.raises(CorpusError, match="not UTF-8"):
        load_records(bad, Organisation)
    with pytest.raises(CorpusError, match="unsupported file type"):
        load_records(tmp_path / "orgs.xml", Organisation)


def test_challenges_are_data_with_both_areas():
    challenges = load_challenges()
    assert [c.id for c in challenges] == [1, 2]
    assert "circular economy" in challenges[1].text().lower()


def test_corpus_hash_changes_with_content_not_order():
    orgs = load_organisations(FIXTURE_CORPUS)
    assert corpus_hash(orgs) == corpus_hash(list(reversed(orgs)))
    changed = [orgs[0].model_copy(update={"description": "other"}), *orgs[1:]]
    assert corpus_hash(changed) != corpus_hash(orgs)
