"""Record the OpenAPI document's examples: one real request and response per operation, on the bundled corpus.

    python scripts/openapi_examples.py                    # the real bundled model (the default)
    python scripts/openapi_examples.py --check            # exit 1 if an operation of the document has no example

Every example is what the service answered: the app runs over a copy of the bundled corpus in a temporary
directory (writes change only that copy), with the bundled model, and each documented operation is called once.
Organisations and projects in the examples are the corpus's own records, never made up. Long lists are kept
short by asking for few results (``k``, ``per_page``), not by editing answers. The file is written to
service/openapi_examples.json, which service/openapi.py reads when it builds the document; tests/test_openapi.py
checks that every example still validates against its operation's models.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OUT = ROOT / "service" / "openapi_examples.json"
KEY = "example-key"
KEY_NAME = "ann"  # a named key (PM_API_KEYS=name:key): the name is what histories show
ORGANISATION = "gb-queen-s-university-belfast"  # the README's example result
PROJECT = "brief-001"
BRIEF = {"text": "recycling rare earth magnets from electronic waste", "countries": ["GB"], "k": 2}


def record(model: str) -> dict[str, Any]:
    from embeddings import FakeEmbedder
    from matcher import PartnerMatcher, Settings
    from service import create_app

    operations: dict[str, dict] = {}
    errors: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "var", **({} if model == "default" else {"model": model}))
        embedder = FakeEmbedder(dim=256) if model == "fake" else None
        matcher = PartnerMatcher(settings, embedder=embedder).open()
        matcher.ensure_index()
        app = create_app({"MATCHER": matcher, "TESTING": True, "RATE_LIMIT": "", "API_KEYS": f"{KEY_NAME}:{KEY}",
                          "LOAD_IN_BACKGROUND": False})
        client = app.test_client()
        auth = {"X-API-Key": KEY}

        def call(operation: str, method: str, url: str, *, path: dict | None = None, query: dict | None = None,
                 body: Any = None, headers: dict | None = None, keep: bool = True) -> Any:
            reply = client.open(url, method=method, json=body, headers=headers or {}, query_string=query)
            assert reply.status_code < 400, (operation, reply.status_code, reply.get_data(as_text=True)[:500])
            example: dict[str, Any] = {}
            if path:
                example["path"] = path
            if query:
                example["query"] = query
            if body is not None:
                example["request"] = body
            if keep and reply.status_code != 204:
                example["response"] = reply.get_json() if reply.is_json else reply.get_data(as_text=True)
            operations[operation] = example
            return reply.get_json() if reply.is_json else None

        def error(status: int, method: str, url: str, **kwargs: Any) -> None:
            reply = client.open(url, method=method, **kwargs)
            assert reply.status_code == status, (status, reply.status_code, reply.get_data(as_text=True)[:300])
            errors[str(status)] = reply.get_json()

        # Reads.
        call("v1_match", "POST", "/v1/match", body=BRIEF)
        call("v1_project_matches", "GET", f"/v1/projects/{PROJECT}/matches", path={"project_id": PROJECT},
             query={"k": 2, "countries": "GB"})
        call("v1_list_organisations", "GET", "/v1/organisations",
             query={"countries": "CA", "org_types": "rto", "per_page": 2, "page": 2})
        organisation = call("v1_get_organisation", "GET", f"/v1/organisations/{ORGANISATION}",
                            path={"org_id": ORGANISATION})
        # The ranked form (a UK team's idea against Canadian projects); without q the list is the plain one.
        call("v1_list_projects", "GET", "/v1/projects",
             query={"q": "graphite purification for battery anodes", "countries": "CA", "per_page": 2})
        project = call("v1_get_project", "GET", f"/v1/projects/{PROJECT}", path={"project_id": PROJECT})
        call("v1_challenges", "GET", "/v1/challenges")
        call("healthz", "GET", "/healthz")
        call("readyz", "GET", "/readyz")

        # Writes, on the temporary copy: each record is written back as it was.
        org_path, project_path = {"org_id": ORGANISATION}, {"project_id": PROJECT}
        call("v1_writes_replace_organisation", "PUT", f"/v1/organisations/{ORGANISATION}", path=org_path,
             body=organisation, headers=auth)
        call("v1_writes_patch_organisation", "PATCH", f"/v1/organisations/{ORGANISATION}", path=org_path,
             body={"website": organisation["website"]}, headers=auth)
        error(409, "POST", "/v1/organisations", json=organisation, headers=auth)
        call("v1_writes_delete_organisation", "DELETE", f"/v1/organisations/{ORGANISATION}", path=org_path,
             headers=auth)
        call("v1_writes_create_organisation", "POST", "/v1/organisations", body=organisation, headers=auth)
        call("v1_writes_replace_project", "PUT", f"/v1/projects/{PROJECT}", path=project_path, body=project,
             headers=auth)
        call("v1_writes_patch_project", "PATCH", f"/v1/projects/{PROJECT}", path=project_path,
             body={"seeking_countries": project["seeking_countries"]}, headers=auth)
        call("v1_writes_delete_project", "DELETE", f"/v1/projects/{PROJECT}", path=project_path, headers=auth)
        call("v1_writes_create_project", "POST", "/v1/projects", body=project, headers=auth)
        call("v1_writes_bulk_import", "POST", "/v1/import", body={"organisations": [organisation], "projects": []},
             headers=auth)
        call("v1_organisation_history", "GET", f"/v1/organisations/{ORGANISATION}/history", path=org_path,
             query={"per_page": 3})
        call("v1_project_history", "GET", f"/v1/projects/{PROJECT}/history", path=project_path)

        # Shortlists: a small one, run to the end.
        request = {"project_ids": ["brief-001", "brief-002"], "per_project": 2, "max_per_organisation": 1,
                   "countries": ["GB"], "min_per_type": {"university": 1}}
        job = call("v1_shortlists_create_shortlist", "POST", "/v1/shortlists", body=request, headers=auth)
        shortlist = {"shortlist_id": job["id"]}
        for _ in range(600):
            done = client.get(f"/v1/shortlists/{job['id']}", headers=auth).get_json()
            if done["status"] in ("done", "failed"):
                break
            time.sleep(0.1)
        assert done["status"] == "done", done
        call("v1_shortlists_get_shortlist", "GET", f"/v1/shortlists/{job['id']}", path=shortlist, headers=auth)
        call("v1_shortlists_list_shortlists", "GET", "/v1/shortlists", query={"per_page": 1}, headers=auth)
        call("v1_shortlists_shortlist_csv", "GET", f"/v1/shortlists/{job['id']}.csv", path=shortlist, headers=auth)
        call("v1_shortlists_shortlist_xlsx", "GET", f"/v1/shortlists/{job['id']}.xlsx", path=shortlist,
             headers=auth, keep=False)  # a binary workbook: described, not shown
        first = done["assignments"][0]
        pair = {"project_id": first["project_id"], "organisation_id": first["organisation_id"]}
        call("v1_shortlists_decide", "PATCH",
             f"/v1/shortlists/{job['id']}/assignments/{pair['project_id']}/{pair['organisation_id']}",
             path={**shortlist, **pair}, body={"decision": "accepted", "note": "Fits the recycling work package."},
             headers=auth)
        call("v1_shortlists_decisions", "GET", f"/v1/shortlists/{job['id']}/decisions", path=shortlist,
             headers=auth)
        call("v1_shortlists_decisions_csv", "GET", f"/v1/shortlists/{job['id']}/decisions.csv", path=shortlist,
             headers=auth)
        call("v1_shortlists_rename_shortlist", "PATCH", f"/v1/shortlists/{job['id']}", path=shortlist,
             body={"name": "Critical minerals call, first round"}, headers=auth)
        call("v1_shortlists_whoami", "GET", "/v1/whoami", headers=auth)
        second = done["assignments"][1]
        client.patch(f"/v1/shortlists/{job['id']}/assignments/{second['project_id']}/{second['organisation_id']}",
                     json={"decision": "rejected", "note": "Already a partner on a competing bid."}, headers=auth)
        replacement = call("v1_shortlists_replace_rejected", "POST", f"/v1/shortlists/{job['id']}/replace-rejected",
                           path=shortlist, body={"name": "Critical minerals call, second round"}, headers=auth)
        for _ in range(600):  # let it finish before the temporary folder goes
            if client.get(f"/v1/shortlists/{replacement['id']}", headers=auth).get_json()["status"] in ("done",
                                                                                                      "failed"):
                break
            time.sleep(0.1)

        # One error of each status, as the service words it.
        error(400, "POST", "/v1/match", json={"text": "cobalt from tailings", "countries": ["UK"]})
        error(401, "DELETE", f"/v1/organisations/{ORGANISATION}")
        error(403, "DELETE", f"/v1/organisations/{ORGANISATION}", headers={"X-API-Key": "not-the-key"})
        error(404, "GET", "/v1/organisations/gb-no-such-organisation")
        error(412, "PATCH", f"/v1/organisations/{ORGANISATION}", json={"city": "Keyworth"},
              headers={**auth, "If-Match": '"a-version-since-replaced"'})
        error(413, "POST", "/v1/match", data=b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1),
              content_type="application/json")
        error(415, "POST", "/v1/match", data="cobalt", content_type="text/plain")
        error(422, "POST", "/v1/shortlists", json={"project_ids": "all", "per_project": 5, "max_per_organisation": 1,
                                                   "countries": ["GB"]}, headers=auth)
        limited = create_app({"MATCHER": matcher, "TESTING": True, "RATE_LIMIT": "1 per minute",
                              "LOAD_IN_BACKGROUND": False}).test_client()
        limited.get("/v1/challenges")
        reply = limited.get("/v1/challenges")
        assert reply.status_code == 429, reply.status_code
        errors["429"] = reply.get_json()
        matcher.index_ = None  # as while the index loads
        error(503, "POST", "/v1/match", json=BRIEF)
        matcher.close()
    return {"operations": operations, "errors": errors}


def missing(examples: dict[str, Any]) -> list[str]:
    """Operations of the document without a recorded example."""
    from embeddings import FakeEmbedder
    from matcher import PartnerMatcher, Settings
    from service import create_app

    with tempfile.TemporaryDirectory() as tmp:
        matcher = PartnerMatcher(Settings(data_dir=Path(tmp)), embedder=FakeEmbedder(dim=8)).open()
        spec = create_app({"MATCHER": matcher, "LOAD_IN_BACKGROUND": False}).test_client().get("/openapi.json")
        ids = [op["operationId"] for ops in spec.get_json()["paths"].values() for op in ops.values()]
        matcher.close()
    return [i for i in ids if i not in examples["operations"]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default", help="'default' (the bundled model) or 'fake' (quick trial)")
    parser.add_argument("--check", action="store_true", help="only report operations without an example")
    args = parser.parse_args()
    if args.check:
        gaps = missing(json.loads(OUT.read_text()))
        print("every operation has an example" if not gaps else f"no example for: {', '.join(gaps)}")
        return 1 if gaps else 0
    examples = record(args.model)
    OUT.write_text(json.dumps(examples, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}: {len(examples['operations'])} operations, {len(examples['errors'])} errors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
