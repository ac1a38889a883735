"""Shortlist endpoints: keys, 202 + polling, 404/422 in the one error shape, decisions, CSV and XLSX exports."""

from __future__ import annotations

import csv
import io

import pytest

from tests.test_api import assert_error
from tests.conftest import EXTRA_PROJECTS

KEY = {"X-API-Key": "officer-key"}
BODY = {"project_ids": [p[0] for p in EXTRA_PROJECTS], "per_project": 3, "max_per_organisation": 1,
        "min_per_type": {"company": 1}}


@pytest.fixture
def officer(call):  # noqa: F811
    from service import create_app

    return create_app({"MATCHER": call, "API_KEYS": ["officer-key"]}).test_client()


def _finished(officer, call, body=BODY):  # noqa: F811
    started = officer.post("/v1/shortlists", json=body, headers=KEY)
    assert started.status_code == 202, started.get_json()
    job = started.get_json()
    assert started.headers["Location"].endswith(f"/v1/shortlists/{job['id']}")
    call.shortlists.wait()
    return officer.get(f"/v1/shortlists/{job['id']}", headers=KEY).get_json()


def test_shortlists_need_a_key(officer):
    assert_error(officer.post("/v1/shortlists", json=BODY), 401, "unauthorized")
    assert_error(officer.get("/v1/shortlists", headers={"X-API-Key": "nope"}), 403, "forbidden")


def test_start_poll_decide_and_export(officer, call):  # noqa: F811
    job = _finished(officer, call)
    assert job["status"] == "done" and job["progress"] == 1.0
    assert {k for k in job["assignments"][0]} >= {"project_id", "organisation_id", "organisation_name", "country",
                                                   "rank", "score", "reason", "eligibility"}
    assert {a["eligibility"] for a in job["assignments"]} <= {"funded", "partner"}  # UK partners, programme labels
    assert job["summary"]["max_load"] == 1 and job["summary"]["assignments"] == 9
    listed = officer.get("/v1/shortlists?per_page=5", headers=KEY).get_json()
    assert listed["total"] >= 1 and listed["items"][0]["id"] == job["id"] and "assignments" not in listed["items"][0]

    first = job["assignments"][0]
    path = f"/v1/shortlists/{job['id']}/assignments/{first['project_id']}/{first['organisation_id']}"
    decided = officer.patch(path, json={"decision": "accepted", "note": "strong fit"}, headers=KEY)
    assert decided.status_code == 200 and decided.get_json()["decision"] == "accepted"
    assert_error(officer.patch(path, json={"decision": "maybe"}, headers=KEY), 400, "invalid_request")
    assert_error(officer.patch(f"/v1/shortlists/{job['id']}/assignments/{first['project_id']}/nobody",
                               json={"decision": "accepted"}, headers=KEY), 404, "assignment_not_found")
    history = officer.get(f"/v1/shortlists/{job['id']}/decisions", headers=KEY).get_json()["items"]
    assert [h["decision"] for h in history] == ["accepted"]

    csv_response = officer.get(f"/v1/shortlists/{job['id']}.csv", headers=KEY)
    assert csv_response.status_code == 200 and csv_response.mimetype == "text/csv"
    assert "attachment" in csv_response.headers["Content-Disposition"]
    lines = csv_response.get_data(as_text=True).strip().split("\n")
    assert len(lines) == 1 + len(job["assignments"])  # one row per assignment
    assert "accepted" in csv_response.get_data(as_text=True)
    decisions_csv = officer.get(f"/v1/shortlists/{job['id']}/decisions.csv", headers=KEY).get_data(as_text=True)
    assert "strong fit" in decisions_csv

    xlsx = officer.get(f"/v1/shortlists/{job['id']}.xlsx", headers=KEY)
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(xlsx.get_data()))
    assert book.sheetnames == ["assignments", "load", "decisions", "settings"]
    assert book["assignments"].max_row == 10
    profile = [c.value for c in book["assignments"][2]][9]
    assert profile == f"http://localhost/organisations/{first['organisation_id']}"  # absolute, from the request


def test_named_keys_clear_decisions_notes_alone_rename_and_replace_rejected(call):  # noqa: F811
    from service import create_app

    officer = create_app({"MATCHER": call, "API_KEYS": "ann:key-of-ann,plain-key"}).test_client()
    ann, plain = {"X-API-Key": "key-of-ann"}, {"X-API-Key": "plain-key"}
    assert officer.get("/v1/whoami", headers=ann).get_json() == {"key_name": "ann"}
    assert officer.get("/v1/whoami", headers=plain).get_json() == {"key_name": "key-2"}  # plain keys still work
    assert_error(officer.get("/v1/whoami", headers={"X-API-Key": "ann"}), 403, "forbidden")
    started = officer.post("/v1/shortlists", json={**BODY, "name": "Call 7"}, headers=ann).get_json()
    assert (started["name"], started["created_by"]) == ("Call 7", "ann")
    call.shortlists.wait()
    job = officer.get(f"/v1/shortlists/{started['id']}", headers=ann).get_json()
    first, second = job["assignments"][0], job["assignments"][1]
    path = f"/v1/shortlists/{job['id']}/assignments/{first['project_id']}/{first['organisation_id']}"
    assert officer.patch(path, json={"decision": "rejected", "note": "n"}, headers=ann).get_json()["decided_by"] \
        == "ann"
    cleared = officer.patch(path, json={"decision": None}, headers=plain).get_json()
    assert (cleared["decision"], cleared["note"], cleared["decided_by"]) == (None, "n", "key-2")
    noted = officer.patch(path, json={"note": "call back"}, headers=plain).get_json()
    assert (noted["decision"], noted["note"]) == (None, "call back")
    assert_error(officer.patch(path, json={}, headers=plain), 400, "invalid_request")
    assert_error(officer.patch(path, json={"note": None}, headers=plain), 400, "invalid_request")
    maybe = officer.patch(path, json={"decision": "maybe"}, headers=plain)
    assert_error(maybe, 400, "invalid_request")
    assert 'decision must be "accepted", "rejected" or null (to clear it), not "maybe"' in maybe.get_json()["error"]["message"]
    history = officer.get(f"/v1/shortlists/{job['id']}/decisions", headers=ann).get_json()["items"]
    assert [(h["decision"], h["decided_by"]) for h in history] == [("rejected", "ann"), ("cleared", "key-2"),
                                                                   ("note", "key-2")]
    assert "key-of-ann" not in officer.get(f"/v1/shortlists/{job['id']}/decisions.csv", headers=ann).get_data(
        as_text=True)
    renamed = officer.patch(f"/v1/shortlists/{job['id']}", json={"name": " Call 7, final "}, headers=ann)
    assert renamed.get_json()["name"] == "Call 7, final"
    second_path = f"/v1/shortlists/{job['id']}/assignments/{second['project_id']}/{second['organisation_id']}"
    officer.patch(second_path, json={"decision": "accepted"}, headers=ann)
    nothing = officer.post(f"/v1/shortlists/{job['id']}/replace-rejected", json={}, headers=ann)
    assert_error(nothing, 409, "conflict")  # nothing rejected: no job is started
    assert "no rejected partner to replace" in nothing.get_json()["error"]["message"]
    officer.patch(path, json={"decision": "rejected"}, headers=ann)
    replaced = officer.post(f"/v1/shortlists/{job['id']}/replace-rejected", json={}, headers=ann)
    assert replaced.status_code == 202 and replaced.get_json()["name"] == "Call 7, final (rejected replaced)"
    call.shortlists.wait()
    new = officer.get(f"/v1/shortlists/{replaced.get_json()['id']}", headers=ann).get_json()
    pairs = {(a["project_id"], a["organisation_id"]): a for a in new["assignments"]}
    assert (first["project_id"], first["organisation_id"]) not in pairs
    assert pairs[(second["project_id"], second["organisation_id"])]["decision"] == "accepted"
    assert new["request"]["keep"] == {second["project_id"]: [second["organisation_id"]]}


def test_errors_are_in_the_one_shape(officer):
    error = assert_error(officer.post("/v1/shortlists", json={**BODY, "per_project": 4}, headers=KEY),
                         422, "infeasible_constraints")
    assert error["details"]["constraint"] == "max_per_organisation" and error["details"]["shortfall"] == 2
    assert_error(officer.post("/v1/shortlists", json={**BODY, "project_ids": ["nope"]}, headers=KEY),
                 404, "project_not_found")
    assert_error(officer.post("/v1/shortlists", json={**BODY, "per_project": "five"}, headers=KEY),
                 400, "invalid_request")
    assert_error(officer.get("/v1/shortlists/0123456789abcdef0123456789abcdef", headers=KEY),
                 404, "shortlist_not_found")
    assert_error(officer.get("/v1/shortlists/unknown.csv", headers=KEY), 404, "shortlist_not_found")


def test_every_record_write_records_the_key_name_never_the_key(call):  # noqa: F811
    from sqlalchemy import select

    from matcher.storage.tables import ChangeRow
    from service import create_app

    client = create_app({"MATCHER": call, "API_KEYS": "portal:key-of-portal"}).test_client()
    key = {"X-API-Key": "key-of-portal"}
    body = {"id": "fx-who-wrote", "name": "Who Wrote Lab", "country": "GB", "org_type": "university",
            "description": "Fixture record for tests."}
    assert client.post("/v1/organisations", json=body, headers=key).status_code == 201
    assert client.patch("/v1/organisations/fx-who-wrote", json={"name": "Who Wrote It Lab"}, headers=key).status_code \
        == 200
    assert client.delete("/v1/organisations/fx-who-wrote", headers=key).status_code == 204
    with call.store_.session() as session:
        rows = session.execute(select(ChangeRow.kind, ChangeRow.by).where(ChangeRow.record_id == "fx-who-wrote")
                               .order_by(ChangeRow.seq)).all()
    assert [tuple(r) for r in rows] == [("organisation", "portal")] * 3


def test_a_misspelt_conflict_or_no_project_ids_is_a_400_that_says_how(officer):
    error = assert_error(officer.post("/v1/shortlists", headers=KEY, json={
        **BODY, "exclude": {"fx-call-cobalt": ["fx-gb-cobalt-unii"]}}), 400, "invalid_request")
    assert "'fx-gb-cobalt-unii' is not stored; did you mean fx-gb-cobalt-uni?" in error["message"]
    assert error["details"][0]["suggestion"] == "fx-gb-cobalt-uni"
    error = assert_error(officer.post("/v1/shortlists", headers=KEY, json={
        **BODY, "exclude": {"fx-call-cobolt": ["fx-gb-cobalt-uni"]}}), 400, "invalid_request")
    assert "did you mean fx-call-cobalt?" in error["message"]
    error = assert_error(officer.post("/v1/shortlists", json={}, headers=KEY), 400, "invalid_request")
    assert error["details"][0]["field"] == "project_ids" and 'or send "all"' in error["message"]
    assert officer.get("/v1/shortlists", headers=KEY).get_json()["total"] == 0  # nothing was started


def test_export_links_use_the_public_url_never_a_forged_host(call):  # noqa: F811
    from service import create_app

    job = _finished(create_app({"MATCHER": call, "API_KEYS": ["officer-key"]}).test_client(), call)
    first = job["assignments"][0]["organisation_id"]

    def profiles(client, **headers) -> set[str]:
        text = client.get(f"/v1/shortlists/{job['id']}.csv", headers={**KEY, **headers}).get_data(as_text=True)
        return {row["profile_url"].rsplit("/organisations/", 1)[0] for row in csv.DictReader(io.StringIO(text))}

    public = create_app({"MATCHER": call, "API_KEYS": ["officer-key"],
                         "PUBLIC_URL": "https://partners.example.org/pm"}).test_client()
    assert profiles(public, Host="evil.example") == {"https://partners.example.org/pm"}
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(public.get(f"/v1/shortlists/{job['id']}.xlsx",
                                               headers={**KEY, "Host": "evil.example"}).get_data()))
    assert book["assignments"].cell(row=2, column=10).value == f"https://partners.example.org/pm/organisations/{first}"
    # Without one, the request's own address; a proxy's X-Forwarded-Host is never believed, even from a trusted one.
    from matcher import Settings

    proxied = create_app({"MATCHER": call, "API_KEYS": ["officer-key"],
                          "SETTINGS": Settings(data_dir=call.settings.data_dir, trusted_proxies=1)}).test_client()
    assert profiles(proxied, **{"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"}) == \
        {"https://localhost"}


def test_public_url_is_a_setting_read_from_the_environment():
    from pydantic import ValidationError

    from matcher import Settings

    assert Settings.from_env({"PM_PUBLIC_URL": "https://partners.example.org/"}).public_url == \
        "https://partners.example.org"
    assert Settings.from_env({}).public_url is None
    with pytest.raises(ValidationError, match="http\\(s\\) address with a host"):
        Settings.from_env({"PM_PUBLIC_URL": "partners.example.org"})


def test_rejected_partners_are_replaced_after_an_accepted_one_was_deleted(officer, call):  # noqa: F811
    job = _finished(officer, call)
    accepted, rejected = job["assignments"][0], job["assignments"][1]
    for pair, decision in ((accepted, "accepted"), (rejected, "rejected")):
        path = f"/v1/shortlists/{job['id']}/assignments/{pair['project_id']}/{pair['organisation_id']}"
        assert officer.patch(path, json={"decision": decision}, headers=KEY).status_code == 200
    assert officer.delete(f"/v1/organisations/{accepted['organisation_id']}", headers=KEY).status_code == 204
    replaced = officer.post(f"/v1/shortlists/{job['id']}/replace-rejected", json={}, headers=KEY)
    assert replaced.status_code == 202, replaced.get_json()
    assert accepted["organisation_id"] not in str(replaced.get_json()["request"]["keep"])  # gone: not kept
    call.shortlists.wait()
    new = officer.get(f"/v1/shortlists/{replaced.get_json()['id']}", headers=KEY).get_json()
    assert new["status"] == "done"
    assert {(a["project_id"], a["organisation_id"]) for a in new["assignments"]}.isdisjoint(
        {(rejected["project_id"], rejected["organisation_id"]), (accepted["project_id"], accepted["organisation_id"])})
    # The accepted decision stays in the first shortlist's history.
    history = officer.get(f"/v1/shortlists/{job['id']}/decisions", headers=KEY).get_json()["items"]
    assert ("accepted", accepted["organisation_id"]) in {(h["decision"], h["organisation_id"]) for h in history}


def test_a_shortlist_name_with_a_control_character_is_refused(officer, call):  # noqa: F811
    error = assert_error(officer.post("/v1/shortlists", json={**BODY, "name": "x\u0007y"}, headers=KEY),
                         400, "invalid_request")
    assert "U+0007" in error["message"]
    job = _finished(officer, call)
    assert_error(officer.patch(f"/v1/shortlists/{job['id']}", json={"name": "a\u0000b"}, headers=KEY),
                 400, "invalid_request")
    assert officer.get(f"/v1/shortlists/{job['id']}", headers=KEY).get_json()["name"] == job["name"]
