"""The `matcher` command through click's runner, on the fixture corpus with the fake embedder (PM_MODEL=fake)."""

import json

from click.testing import CliRunner

from matcher.cli import main


def run(*args):
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result


def test_every_command_has_help():
    for command in ([], ["build"], ["match"], ["serve"]):
        result = run(*command, "--help")
        assert result.exit_code == 0 and "Usage:" in result.output


def test_build_then_up_to_date(pm_env):
    first = run("build")
    assert first.exit_code == 0 and "Built index of 9 organisations" in first.output
    second = run("build")
    assert second.exit_code == 0 and "up to date" in second.output
    forced = run("build", "--force")
    assert "Built index" in forced.output and "forced" in forced.output


def test_match_table_and_json_agree(pm_env):
    text = "recycling rare earth magnets from electronic waste"
    table = run("match", text, "--country", "GB", "-k", "3")
    assert table.exit_code == 0
    data = json.loads(run("match", text, "--country", "GB", "-k", "3", "--json").stdout)
    ids = [r["organisation"]["id"] for r in data["results"]]
    assert ids[0] == "fx-magnet-recyclers" and len(ids) == 3
    for org_id in ids:
        assert org_id in table.output


def test_match_a_project_uses_its_seeking_countries(pm_env):
    data = json.loads(run("match", "--project", "fx-brief-tailings", "--json").stdout)
    assert {r["organisation"]["country"] for r in data["results"]} == {"CA"}


def test_cli_errors_are_one_line_not_tracebacks(pm_env):
    missing = run("match")
    assert missing.exit_code == 2 and "give a project brief" in missing.output
    bad_country = run("match", "x", "--country", "Britain")
    assert bad_country.exit_code == 1 and "countries.0" in bad_country.output and "Traceback" not in bad_country.output
    unknown = run("match", "--project", "nope")
    assert unknown.exit_code == 1 and "no project with id 'nope'" in unknown.output
    assert run("match", "x", "-k", "0").exit_code == 2


def test_bad_model_setting_names_pm_model(pm_env, monkeypatch):
    monkeypatch.setenv("PM_MODEL", "fake:abc")
    result = run("build")
    assert result.exit_code == 1 and "PM_MODEL" in result.output


def test_serve_execs_gunicorn_with_the_package_config_and_huge_page_malloc(pm_env, monkeypatch):
    import os

    calls = []
    monkeypatch.setattr(os, "execve", lambda path, argv, env: calls.append((path, argv, env)))
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    result = run("serve", "--port", "8123")
    assert result.exit_code == 0 and "Serving 9 organisations on http://127.0.0.1:8123" in result.output
    (path, argv, env), = calls
    assert path.endswith("gunicorn") and argv[-1] == "service:create_app()" and argv[2].endswith("gunicorn.conf.py")
    assert env["PORT"] == "8123" and env["GLIBC_TUNABLES"] == "glibc.malloc.hugetlb=1"


def test_evaluate_builds_its_embedder_from_every_setting(pm_env, monkeypatch, tmp_path):
    """The CLI's BEIR evaluation takes model, backend, threads and the data folder as the service does."""
    from embeddings import FakeEmbedder

    seen = {}

    def fake_load(model, **kwargs):
        seen.update(model=model, **kwargs)
        return FakeEmbedder(32)

    monkeypatch.setattr("matcher.engine.load_embedder", fake_load)
    monkeypatch.setenv("PM_BACKEND", "onnx")
    monkeypatch.setenv("PM_ONNX_THREADS", "1")
    data_dir = tmp_path / "elsewhere"
    beir = str(__import__("pathlib").Path(__file__).parent / "data" / "beir")
    result = run("--data-dir", str(data_dir), "evaluate", "--beir", beir, "--split", "test", "--json")
    assert result.exit_code == 0, result.output
    assert seen == {"model": "fake", "backend": "onnx", "export_dir": data_dir / "models", "threads": 1}


def test_core_errors_become_one_line(pm_env, monkeypatch):
    monkeypatch.setenv("PM_MODEL", "fake:abc")
    result = CliRunner().invoke(main, ["build"])
    assert result.exit_code == 1
    assert "Error: PM_MODEL='fake:abc': use 'fake' or 'fake:DIM'" in result.output
    assert "Traceback" not in result.output


def test_shortlist_writes_the_officers_exports_with_its_name(pm_env, tmp_path):
    import csv

    from openpyxl import load_workbook

    book, table = tmp_path / "call.xlsx", tmp_path / "call.csv"
    args = ["shortlist", "--projects", "fx-brief-magnets", "--per-project", "2", "--country", "GB", "--name",
            "CLI call", "--base-url", "https://pm.example.org"]
    assert run(*args, "--out", str(book)).exit_code == 0 and run(*args, "--out", str(table)).exit_code == 0
    workbook = load_workbook(book)
    settings = {r[0].value: r[1].value for r in workbook["settings"].iter_rows(min_row=2)}
    assert settings["Name"] == "CLI call" and settings["Created by"].startswith("cli (")
    rows = list(csv.DictReader(table.open(encoding="utf-8")))
    assert len(rows) == 2 and rows[0]["project_title"] == "Recycling rare earth magnets from e-waste"
    assert rows[0]["profile_url"] == f"https://pm.example.org/organisations/{rows[0]['organisation_id']}"
    assert [c.value for c in workbook["assignments"][2]][1] == rows[0]["project_title"]
