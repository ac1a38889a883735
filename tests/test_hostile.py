"""Hostile input and concurrency (issue 24): each test reproduces one defect an adversarial run found.

Exports that a spreadsheet would split or run, control characters an XLSX cell cannot hold, lost updates under
concurrent PATCH, bodies and query strings the API did not expect, paths that earned an HTML redirect, jobs left
"running" by a killed process, and decisions on deleted organisations.
"""

from __future__ import annotations

import csv
import io

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from matcher import shortlist_to_csv, shortlist_to_xlsx
from matcher.shortlists import ShortlistRequest
from matcher.shortlists.export import decisions_to_csv
from matcher.storage.shortlist_store import DecisionRecord
from matcher.storage.tables import AssignmentRow
from tests.conftest import EXTRA_PROJECTS
from tests.test_api import assert_error

KEY = {"X-API-Key": "officer-key"}
FORMULA = "=cmd|' /C calc'!A0"
SPREADSHEET_PREFIXES = ("=", "+", "-", "@")


def _request(**kw) -> ShortlistRequest:
    base = {"project_ids": [p[0] for p in EXTRA_PROJECTS], "per_project": 3, "max_per_organisation": 1,
            "min_per_type": {"company": 1}}
    return ShortlistRequest(**{**base, **kw})


@pytest.fixture
def officer(call):
    from service import create_app

    return create_app({"MATCHER": call, "API_KEYS": ["officer-key"]}).test_client()


def _cells(text: str) -> list[list[str]]:
    """What a spreadsheet's CSV reader sees: rows of cells."""
    return list(csv.reader(io.StringIO(text, newline="")))


def _no_formula(cells: list[list[str]]) -> None:
    for row in cells:
        for cell in row:
            assert not cell.startswith(SPREADSHEET_PREFIXES), f"a spreadsheet would run {cell!r}"


# ---------------------------------------------------------------------------------------------- 1: CSV injection
def test_a_carriage_return_in_a_name_or_note_never_splits_a_csv_row(call):
    org = call.get_organisation("fx-gb-tailings-co")
    call.save_organisation(org.model_copy(update={"name": f"Acme Ltd\r{FORMULA}"}))
    job = call.shortlists.run_now(_request())
    assert any(a.organisation_name.startswith("Acme Ltd\r") for a in job.assignments)
    cells = _cells(shortlist_to_csv(job))
    assert len(cells) == 1 + len(job.assignments)  # no row was split
    assert all(len(row) == len(cells[0]) for row in cells)
    assert any(cell == f"Acme Ltd\r{FORMULA}" for row in cells for cell in row)  # one cell, kept whole
    _no_formula(cells)

    first = job.assignments[0]
    call.shortlists.decide(job.id, first.project_id, first.organisation_id, "accepted", "\r=1+1")
    call.shortlists.decide(job.id, first.project_id, first.organisation_id, "rejected", "=1+1\nsecond line")
    history = _cells(decisions_to_csv(call.shortlists.history(job.id)))
    assert len(history) == 3 and all(len(row) == len(history[0]) for row in history)
    _no_formula(history)
    assert history[1][-1] == "'\r=1+1" and history[2][-1] == "'=1+1\nsecond line"


def test_every_formula_prefix_is_defused_in_csv_and_xlsx(call):
    job = call.shortlists.run_now(_request())
    for prefix in ("=", "+", "-", "@", "\t", "\r", "\n"):
        job.assignments[0].organisation_name = f"{prefix}SUM(A1:A9)"
        _no_formula(_cells(shortlist_to_csv(job)))
        sheet = load_workbook(io.BytesIO(shortlist_to_xlsx(job, decisions=[])))["assignments"]
        values = [c.value for row in sheet.iter_rows() for c in row if isinstance(c.value, str)]
        assert f"'{prefix}SUM(A1:A9)".replace("\r", "\n") in [v.replace("\r", "\n") for v in values]
        assert not any(v.startswith(SPREADSHEET_PREFIXES) for v in values)


# ------------------------------------------------------------------------------------- 2: XLSX control characters
def test_control_characters_in_old_records_are_escaped_in_every_export(call):
    job = call.shortlists.run_now(_request())
    job.assignments[0].organisation_name = "Bell\x07Org"
    job.assignments[1].organisation_name = "Nul\x00Org"
    note = DecisionRecord(shortlist_id=job.id, project_id="p", organisation_id="o", decision="accepted",
                          note="see\x0bbelow", decided_at=None)
    book = load_workbook(io.BytesIO(shortlist_to_xlsx(job, decisions=[note])))
    values = {c.value for sheet in book for row in sheet.iter_rows() for c in row}
    assert {"Bell\\x07Org", "Nul\\x00Org", "see\\x0bbelow"} <= values
    assert "Bell\\x07Org" in shortlist_to_csv(job) and "see\\x0bbelow" in decisions_to_csv([note])


def test_old_control_characters_do_not_break_the_xlsx_download(officer, call):
    job = call.shortlists.run_now(_request())
    with call.store_.transaction("test: an old record") as session:  # written before input was checked
        row = session.query(AssignmentRow).filter_by(shortlist_id=job.id).first()
        row.organisation_name, row.note = "Bell\x07Org", "see\x0bbelow"
    response = officer.get(f"/v1/shortlists/{job.id}.xlsx", headers=KEY)
    assert response.status_code == 200
    values = {c.value for row in load_workbook(io.BytesIO(response.get_data()))["assignments"].iter_rows()
              for c in row}
    assert {"Bell\\x07Org", "see\\x0bbelow"} <= values


def test_control_characters_are_refused_in_names_and_notes(officer, call):
    org = call.get_organisation("fx-gb-tailings-co").model_dump(mode="json")
    for name in ("Bell\x07Org", "Nul\x00Org"):
        error = assert_error(officer.put("/v1/organisations/fx-gb-tailings-co", json={**org, "name": name},
                                         headers=KEY), 400, "invalid_request")
        assert "control character" in error["message"] and "name" in error["message"]
    error = assert_error(officer.patch("/v1/organisations/fx-gb-tailings-co", json={"aliases": ["A\x1bB"]},
                                       headers=KEY), 400, "invalid_request")
    assert "U+001B" in error["message"]
    assert call.get_organisation("fx-gb-tailings-co").name == org["name"]  # nothing was written
    bulk = officer.post("/v1/import", json={"organisations": [{**org, "id": "fx-new", "name": "New\x0cOrg"}]},
                        headers=KEY)
    assert_error(bulk, 400, "invalid_request")
    # Tabs and line breaks are text, not control: allowed.
    assert officer.patch("/v1/organisations/fx-gb-tailings-co", json={"name": "Tailings\tCo"},
                         headers=KEY).status_code == 200

    job = call.shortlists.run_now(_request())
    first = job.assignments[0]
    path = f"/v1/shortlists/{job.id}/assignments/{first.project_id}/{first.organisation_id}"
    error = assert_error(officer.patch(path, json={"decision": "accepted", "note": "see\x0bbelow"}, headers=KEY),
                         400, "invalid_request")
    assert "control character" in error["message"]
    assert officer.patch(path, json={"decision": "accepted", "note": "line one\r\nline two"},
                         headers=KEY).status_code == 200


def test_cli_shortlist_out_never_leaves_a_partial_file(pm_env, tmp_path, monkeypatch):
    from matcher.cli import main
    import matcher.shortlists

    out = tmp_path / "x.xlsx"
    out.write_bytes(b"the previous export")

    def broken(*args, **kwargs):
        raise RuntimeError("the workbook could not be written")

    monkeypatch.setattr(matcher.shortlists, "shortlist_to_xlsx", broken)
    args = ["shortlist", "--projects", "all", "--per-project", "1", "--max-per-org", "5", "--out", str(out)]
    failed = CliRunner().invoke(main, args)
    assert failed.exit_code != 0
    assert out.read_bytes() == b"the previous export"  # the old file is intact, not truncated to 0 bytes
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".x.xlsx")] == []  # no temporary left
    monkeypatch.undo()
    done = CliRunner().invoke(main, args)
    assert done.exit_code == 0, done.output
    assert load_workbook(out).sheetnames == ["assignments", "load", "decisions", "settings"]


# -------------------------------------------------------------------------------------- 3: concurrent PATCH, If-Match
PATCHED_FIELDS = ("region", "city", "website", "description")
PATCHES_EACH = 15


def _patch_own_field(settings, field: str, results) -> None:
    """One writer, in a process or thread of its own with its own connections: PATCH one field again and again."""
    from embeddings import FakeEmbedder
    from matcher import PartnerMatcher

    writer = PartnerMatcher(settings, embedder=FakeEmbedder(dim=256)).open()
    try:
        for n in range(PATCHES_EACH):
            value = f"{field} value {n}" if field != "website" else f"https://example.org/{n}"
            writer.patch_organisation("fx-tailings-lab", {field: value})
            results.put((field, value))  # acknowledged
    finally:
        writer.close()
        writer.store_.close()


@pytest.mark.parametrize("workers", ["threads", "processes"])
def test_concurrent_patches_of_one_organisation_lose_no_field(database_url, tmp_path, workers):
    import multiprocessing
    import queue
    import threading

    from embeddings import FakeEmbedder
    from matcher import PartnerMatcher, Settings
    from tests.conftest import FIXTURE_CORPUS

    settings = Settings(data_dir=tmp_path / "var", corpus_dir=FIXTURE_CORPUS, database_url=database_url)
    seeded = PartnerMatcher(settings, embedder=FakeEmbedder(dim=256)).open()  # seeds the database once
    if workers == "threads":
        results: queue.Queue | multiprocessing.queues.Queue = queue.Queue()
        runners = [threading.Thread(target=_patch_own_field, args=(settings, f, results)) for f in PATCHED_FIELDS]
    else:
        context = multiprocessing.get_context("fork")
        results = context.Queue()
        runners = [context.Process(target=_patch_own_field, args=(settings, f, results)) for f in PATCHED_FIELDS]
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join(300)
    acknowledged: dict[str, list[str]] = {}
    for _ in range(len(PATCHED_FIELDS) * PATCHES_EACH):
        field, value = results.get(timeout=10)
        acknowledged.setdefault(field, []).append(value)
    final = seeded.store_.get_organisation("fx-tailings-lab")
    for field in PATCHED_FIELDS:  # every writer's last acknowledged value survived every other writer's patches
        assert getattr(final, field) == acknowledged[field][-1], field
    seeded.store_.close()


def test_if_match_makes_a_patch_conditional(officer, call):
    path = "/v1/organisations/fx-tailings-lab"
    etag = officer.get(path).headers["ETag"]
    error = assert_error(officer.patch(path, json={"city": "Val-d'Or"}, headers={**KEY, "If-Match": '"not-the-etag"'}),
                         412, "precondition_failed")
    assert "changed" in error["message"] and error["details"]["etag"] == etag.strip('"')
    assert call.get_organisation("fx-tailings-lab").city != "Val-d'Or"  # nothing was written
    done = officer.patch(path, json={"city": "Val-d'Or"}, headers={**KEY, "If-Match": etag})
    assert done.status_code == 200 and done.headers["ETag"] != etag
    assert done.headers["ETag"] == officer.get(path).headers["ETag"]  # the new ETag is the one a GET gives
    stale = officer.patch(path, json={"city": "Rouyn-Noranda"}, headers={**KEY, "If-Match": etag})
    assert_error(stale, 412, "precondition_failed")  # the ETag read before the change is stale now
    assert officer.patch(path, json={"city": "Rouyn-Noranda"}, headers={**KEY, "If-Match": "*"}).status_code == 200
    assert_error(officer.patch("/v1/organisations/nobody", json={"city": "x"}, headers={**KEY, "If-Match": "*"}),
                 404, "organisation_not_found")


# --------------------------------------------------------------------------------------------- 7: unsized bodies
def _unsized_post(client, path: str, body: bytes):
    """A POST whose body has no Content-Length (chunked, as gunicorn hands it over: the stream ends itself)."""
    environ = {"wsgi.input": io.BytesIO(body), "wsgi.input_terminated": True, "HTTP_TRANSFER_ENCODING": "chunked"}
    return client.open(path, method="POST", content_type="application/json", environ_overrides=environ)


def test_a_chunked_body_over_the_limit_is_a_413_never_cut(client):
    import json

    limit = client.application.config["MAX_CONTENT_LENGTH"]
    small = _unsized_post(client, "/v1/match", json.dumps({"text": "cobalt from mine tailings"}).encode())
    assert small.status_code == 200 and small.get_json()["results"]
    # Valid JSON at the limit followed by more: a silent cut at the limit would answer 200.
    padded = b'{"text": "cobalt"}' + b" " * (limit - 18) + b"garbage"
    error = assert_error(_unsized_post(client, "/v1/match", padded), 413, "payload_too_large")
    assert error["details"]["max_bytes"] == limit
    long_string = json.dumps({"text": "a" * limit}).encode()  # cut, this was a 400 "Unterminated string"
    assert_error(_unsized_post(client, "/v1/match", long_string), 413, "payload_too_large")
    exactly = b'{"text": "cobalt"}' + b" " * (limit - 18)
    assert _unsized_post(client, "/v1/match", exactly).status_code == 200  # the limit itself is allowed


# ---------------------------------------------------------------------------------- 8: unknown query parameters
def _sample_path(rule) -> str:
    values = {"org_id": "fx-tailings-lab", "project_id": "fx-call-cobalt", "shortlist_id": "0" * 32,
              "organisation_id": "fx-tailings-lab", "filename": "swagger-ui.css"}
    path = rule.rule
    for argument in rule.arguments:
        path = path.replace(f"<{argument}>", values[argument])
    return path


def test_every_api_endpoint_refuses_unknown_query_parameters(app, client):
    checked = []
    for rule in app.url_map.iter_rules():
        meta = getattr(app.view_functions[rule.endpoint], "openapi", None)
        if meta is None:
            continue
        allowed = sorted(meta["query"].model_fields) if meta["query"] is not None else []
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            response = client.open(f"{_sample_path(rule)}?not_a_param=1", method=method, json={})
            error = assert_error(response, 400, "invalid_request")
            assert "'not_a_param'" in error["message"], (method, rule.rule)
            assert error["details"]["unknown"] == ["not_a_param"]
            assert set(allowed) <= set(error["details"]["allowed"])
            checked.append(f"{method} {rule.rule}")
    assert {"POST /v1/match", "GET /v1/organisations/<org_id>", "GET /v1/projects/<project_id>",
            "GET /v1/challenges", "GET /healthz", "POST /v1/import"} <= set(checked)


def test_unknown_parameters_write_nothing_and_known_ones_still_work(app, client, matcher):
    from service.guards import EXTRA_PARAMS

    writer = app.test_client()
    app.config["API_KEYS"] = ["officer-key"]
    new = {"id": "fx-new-org", "name": "New Org", "country": "GB", "org_type": "company",
           "description": "Fixture record for tests. Hydrometallurgy."}
    error = assert_error(writer.post("/v1/import?dryrun=1", json={"organisations": [new]}, headers=KEY),
                         400, "invalid_request")
    assert "dryrun" in error["message"] and "dry_run" in error["details"]["allowed"]
    assert matcher.store_.get_organisation("fx-new-org") is None  # refused before anything was written
    assert "dry_run" in EXTRA_PARAMS["v1_writes.bulk_import"]
    assert client.get("/v1/organisations?page=1&per_page=2&countries=GB").status_code == 200
    assert client.get("/v1/projects/fx-nothing?k=3").get_json()["error"]["details"]["unknown"] == ["k"]


# ------------------------------------------------------------------------------- 9: slashes and odd bytes in paths
@pytest.mark.parametrize(("method", "path", "fixed"), [
    ("GET", "/v1//organisations", "/v1/organisations"),
    ("GET", "/v1/organisations/", "/v1/organisations"),
    ("GET", "/healthz/", "/healthz"),
    ("POST", "/v1/match/", "/v1/match"),
    ("PATCH", "/v1/organisations//fx-tailings-lab", "/v1/organisations/fx-tailings-lab"),
    ("PATCH", "/v1/organisations/fx-tailings-lab/", "/v1/organisations/fx-tailings-lab"),
])
def test_doubled_and_trailing_slashes_answer_json_never_a_redirect(client, method, path, fixed):
    response = client.open(path, method=method, json={"text": "cobalt"})
    error = assert_error(response, 404, "not_found")
    assert "Location" not in response.headers and error["details"] == {"path": fixed}


def test_raw_bytes_in_a_path_answer_json(client):
    for raw in ("/v1/\xff", "/v1/organisations/\xff\xfe", "/\xff", "/v1/projects/%FF"):
        response = client.get("/", environ_overrides={"PATH_INFO": raw})
        assert response.status_code in (400, 404) and response.mimetype == "application/json", raw


# -------------------------------------------------------------------------------- 10: a job whose process was killed
CLAIM_AND_HANG = """
import sys, time
from matcher.storage import ShortlistStore, Store
jobs = ShortlistStore(Store(sys.argv[1]))
assert jobs.claim(sys.argv[2])
print("running", flush=True)
time.sleep(600)
"""


def _running_in_child(database_url: str, jobs, request) -> tuple[str, object]:
    """A job claimed (status running, heartbeat fresh) by a process of its own, which then hangs."""
    import os
    import subprocess
    import sys

    shortlist_id = jobs.store.create(request.model_dump(mode="json"))
    child = subprocess.Popen([sys.executable, "-c", CLAIM_AND_HANG, database_url, shortlist_id],
                             stdout=subprocess.PIPE, text=True, env={**os.environ})
    assert child.stdout.readline().strip() == "running"
    return shortlist_id, child


def test_a_job_of_a_killed_process_is_failed_as_soon_as_the_service_is_back(call, settings, fake_embedder):
    import signal

    from matcher import PartnerMatcher
    from service import create_app

    url = settings.resolved_database_url
    killed, victim = _running_in_child(url, call.shortlists, _request())
    alive, survivor = _running_in_child(url, call.shortlists, _request())  # another worker's job, still running
    try:
        victim.send_signal(signal.SIGKILL)
        victim.wait(30)
        assert call.shortlists.store.get(killed, with_assignments=False).status == "running"  # as the kill left it
        restarted = PartnerMatcher(settings, embedder=fake_embedder).open()  # the service comes back
        app = create_app({"MATCHER": restarted, "API_KEYS": ["officer-key"], "LOAD_IN_BACKGROUND": False})
        job = app.test_client().get(f"/v1/shortlists/{killed}", headers=KEY).get_json()
        assert job["status"] == "failed" and job["error"]["code"] == "interrupted"  # at once, not after 120 s
        assert restarted.shortlists.store.get(alive, with_assignments=False).status == "running"  # owner alive
        restarted.close()
    finally:
        survivor.kill()
        survivor.wait(30)
    assert call.shortlists.get(alive).status == "failed"  # its process is gone now too


# ------------------------------------------------------------------- 11: an organisation deleted after its shortlist
def test_an_organisation_deleted_after_its_shortlist_is_flagged_and_not_decidable(officer, call):
    job = call.shortlists.run_now(_request())
    gone, kept = job.assignments[0], job.assignments[1]
    path = f"/v1/shortlists/{job.id}/assignments/{gone.project_id}/{gone.organisation_id}"
    assert officer.patch(path, json={"decision": "accepted", "note": "before"}, headers=KEY).status_code == 200
    assert officer.delete(f"/v1/organisations/{gone.organisation_id}", headers=KEY).status_code == 204

    shown = officer.get(f"/v1/shortlists/{job.id}", headers=KEY).get_json()["assignments"]
    flagged = {(a["project_id"], a["organisation_id"]): a["organisation_deleted"] for a in shown}
    assert flagged[(gone.project_id, gone.organisation_id)] is True
    assert flagged[(kept.project_id, kept.organisation_id)] is False
    assert sum(flagged.values()) == sum(a.organisation_id == gone.organisation_id for a in job.assignments)
    before = next(a for a in shown if a["organisation_id"] == gone.organisation_id)
    assert before["decision"] == "accepted" and before["note"] == "before"  # the record is kept

    error = assert_error(officer.patch(path, json={"decision": "rejected"}, headers=KEY), 409, "organisation_deleted")
    assert "was deleted" in error["message"] and gone.organisation_id in error["message"]
    assert [d["decision"] for d in officer.get(f"/v1/shortlists/{job.id}/decisions", headers=KEY).get_json()["items"]
            ] == ["accepted"]  # nothing was recorded

    rows = _cells(officer.get(f"/v1/shortlists/{job.id}.csv", headers=KEY).get_data(as_text=True))
    column = rows[0].index("organisation_deleted")
    by_org = {row[rows[0].index("organisation_id")]: row[column] for row in rows[1:]}
    assert by_org[gone.organisation_id] == "True" and by_org[kept.organisation_id] == "False"
    sheet = load_workbook(io.BytesIO(officer.get(f"/v1/shortlists/{job.id}.xlsx", headers=KEY).get_data()))
    header = [c.value for c in sheet["assignments"][1]]
    flags = {row[header.index("Organisation id")]: row[header.index("Organisation deleted")]
             for row in sheet["assignments"].iter_rows(min_row=2, values_only=True)}
    assert flags[gone.organisation_id] is True and flags[kept.organisation_id] is False


def _raw(port: int, request: bytes) -> tuple[int, str, bytes]:
    """Send bytes as they are (no client library tidies them); returns status, content type and body."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), headers.get("Content-Type", ""), body


def test_gunicorn_refuses_what_it_cannot_parse_in_json(tmp_path):
    import json

    from tests.test_faults import Server

    server = Server(tmp_path / "var")
    end = b"Host: x\r\nConnection: close\r\n\r\n"
    try:
        cases = {
            "request line over 8,190 bytes": (b"GET /v1/organisations?q=" + b"a" * 9000 + b" HTTP/1.1\r\n" + end, 414),
            "200 headers": (b"GET /healthz HTTP/1.1\r\n" + b"".join(b"X-H%d: 1\r\n" % i for i in range(200)) + end,
                            431),
            "a 10 KB header": (b"GET /healthz HTTP/1.1\r\nX-Big: " + b"b" * 10_000 + b"\r\n" + end, 431),
            "raw \\xff in the path": (b"GET /v1/\xff HTTP/1.1\r\n" + end, 400),
        }
        for what, (request, status) in cases.items():
            got, content_type, body = _raw(server.port, request)
            assert (got, content_type) == (status, "application/json"), what
            error = json.loads(body)["error"]
            assert set(error) == {"code", "message", "details"} and error["message"], what
        got, content_type, _ = _raw(server.port, b"GET /v1/%FF HTTP/1.1\r\n" + end)  # reaches the app
        assert got == 404 and content_type == "application/json"
        # A chunked body over the limit, through gunicorn's own chunked reader: a 413, not a body cut at 1 MiB.
        body = b'{"text": "cobalt"}' + b" " * (1 << 20) + b"garbage"
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 65536]), body[i:i + 65536])
                          for i in range(0, len(body), 65536)) + b"0\r\n\r\n"
        got, content_type, body = _raw(server.port, b"POST /v1/match HTTP/1.1\r\nContent-Type: application/json\r\n"
                                       b"Transfer-Encoding: chunked\r\n" + end + chunks)
        assert (got, content_type) == (413, "application/json")
        assert json.loads(body)["error"]["code"] == "payload_too_large"
    finally:
        server.kill()


def test_if_match_makes_a_replace_or_a_delete_conditional(officer, call):
    for path in ("/v1/organisations/fx-tailings-lab", "/v1/projects/fx-call-cobalt"):
        record = officer.get(path).get_json()
        etag = officer.get(path).headers["ETag"]
        stale = {**KEY, "If-Match": '"not-the-etag"'}
        changed = {**record, "city": "Val-d'Or"} if "organisations" in path else {**record, "title": "Renamed"}
        assert_error(officer.put(path, json=changed, headers=stale), 412, "precondition_failed")
        assert_error(officer.delete(path, headers=stale), 412, "precondition_failed")
        assert officer.get(path).get_json() == record  # neither was done
        replaced = officer.put(path, json=changed, headers={**KEY, "If-Match": etag})
        assert replaced.status_code == 200 and replaced.headers["ETag"] != etag
        assert_error(officer.delete(path, headers={**KEY, "If-Match": etag}), 412, "precondition_failed")  # stale
        assert officer.delete(path, headers={**KEY, "If-Match": replaced.headers["ETag"]}).status_code == 204
        missing = officer.put(path, json=changed, headers={**KEY, "If-Match": "*"})  # no version exists to match
        assert "does not exist" in assert_error(missing, 412, "precondition_failed")["message"]
        created = officer.put(path, json=changed, headers=KEY)  # without If-Match: created, so 201 + Location
        assert created.status_code == 201 and created.headers["Location"] == path
        assert officer.put(path, json=changed, headers=KEY).status_code == 200  # and again: replaced

