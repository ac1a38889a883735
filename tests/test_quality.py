import json

from click.testing import CliRunner

from corpus.quality import check_corpus
from matcher.cli import main
from tests.conftest import FIXTURE_CORPUS


def write(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def org(i, **over):
    return {"id": f"gb-o{i}", "name": f"Org {i}", "country": "GB", "org_type": "company",
            "description": "word " * 70, "minerals": ["lithium"], "value_chain_stages": ["recycling"],
            "website": "https://example.org", "keywords": ["a", "b", "c"], "sources": [{"ref": "https://example.org"}], **over}


def test_clean_corpus_passes(tmp_path):
    write(tmp_path / "organisations" / "a.jsonl", [org(1), org(2)])
    report = check_corpus(tmp_path)
    assert report.ok and report.organisations == 2 and report.findings == []


def test_each_problem_is_reported(tmp_path):
    write(tmp_path / "organisations" / "a.jsonl", [
        org(1), org(2, name="ORG 1"), org(3, sources=[]), org(4, description="too short"),
        org(5, country="GBR"), org(6, minerals=["adamantium"]), org(7, aliases=["Org 8"]), org(8),
        org(9, aliases=["XYZ"]), org(10, aliases=["xyz"]),
    ])
    write(tmp_path / "organisations" / "b.jsonl", [org(1)])
    write(tmp_path / "projects" / "p.jsonl", [{"id": "p1", "title": "t", "summary": "no label", "country": "CA",
                                               "lead_organisation_id": "gb-missing"}])
    report = check_corpus(tmp_path)
    checks = {(f.level, f.check) for f in report.findings}
    assert {("error", "duplicate_name"), ("error", "no_sources"), ("warning", "thin_profile"),
            ("error", "invalid_record"), ("error", "duplicate_id"), ("error", "alias_is_other_name"),
            ("warning", "ambiguous_alias"), ("error", "unknown_lead"), ("warning", "unlabelled_illustrative")} <= checks
    invalid = [f for f in report.findings if f.check == "invalid_record"]
    assert any("country" in f.message for f in invalid) and any("adamantium" in f.message for f in invalid)
    assert not report.ok


def test_cli_exit_codes(tmp_path):
    runner = CliRunner()
    ok = runner.invoke(main, ["corpus", "check", str(FIXTURE_CORPUS)])
    assert ok.exit_code == 0 and "9 organisations" in ok.output
    write(tmp_path / "organisations" / "a.jsonl", [org(1, sources=[])])
    bad = runner.invoke(main, ["corpus", "check", str(tmp_path), "--json"])
    assert bad.exit_code == 1 and json.loads(bad.stdout)["errors"] == 1


def test_bundled_corpus_passes_the_check():
    report = check_corpus(__import__("corpus").default_data_dir())
    assert report.ok, [f for f in report.errors]
