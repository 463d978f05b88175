"""BigQuery v2 as `bq query` uses it: the discovery document, jobs.insert, jobs.get and
jobs.getQueryResults. A statement is recorded and answered as done; none is executed."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from .server import FakeGoogle, Request, Router, not_found

router = Router()
V2 = "/bigquery/v2/projects/{project}"
DISCOVERY = Path("/usr/lib/google-cloud-sdk/platform/bq/discovery_next/bigquery.json")


@cache
def _document() -> dict[str, Any]:
    return json.loads(DISCOVERY.read_text())


@router.add("GET", "/$discovery/rest")
def discovery(fake: FakeGoogle, r: Request) -> Any:
    """BigQuery's discovery document (the one bq ships), rooted at the fake."""
    doc = dict(_document())
    doc.update(rootUrl=f"{fake.url}/", baseUrl=f"{fake.url}/bigquery/v2/")
    return doc


def _job(fake: FakeGoogle, r: Request) -> dict[str, Any]:
    jobs = fake.project(r.params["project"]).operations
    if f"job/{r.params['job']}" not in jobs:
        raise not_found(f"Job {r.params['project']}:{r.params['job']}")
    return jobs[f"job/{r.params['job']}"]


@router.add("POST", V2 + "/jobs")
def insert(fake: FakeGoogle, r: Request) -> Any:
    """bigquery.jobs.insert: a query job, done at once, with no rows."""
    p = fake.project(r.params["project"])
    ref = r.body.get("jobReference") or {}
    ref = {"projectId": p.id, "jobId": ref.get("jobId") or f"bqjob_{fake.new_id()}",
           "location": ref.get("location", "US")}  # fmt: skip
    query = r.body.get("configuration", {}).get("query", {}).get("query", "")
    kind = query.split(None, 1)[0].upper() if query else "SELECT"
    job = {
        "kind": "bigquery#job",
        "id": f"{p.id}:{ref['location']}.{ref['jobId']}",
        "jobReference": ref,
        "configuration": r.body.get("configuration", {}),
        "status": {"state": "DONE"},
        "statistics": {
            "creationTime": "1700000000000",
            "startTime": "1700000000000",
            "endTime": "1700000000001",
            "query": {"statementType": kind, "totalBytesProcessed": "0"},
        },
    }
    p.operations[f"job/{ref['jobId']}"] = job
    return job


@router.add("GET", V2 + "/jobs/{job}")
def get(fake: FakeGoogle, r: Request) -> Any:
    """bigquery.jobs.get"""
    return _job(fake, r)


@router.add("GET", V2 + "/queries/{job}")
def results(fake: FakeGoogle, r: Request) -> Any:
    """bigquery.jobs.getQueryResults: no schema, no rows (a DCL or DDL statement)."""
    job = _job(fake, r)
    return {"kind": "bigquery#getQueryResultsResponse", "jobReference": job["jobReference"],
            "jobComplete": True, "totalRows": "0", "rows": []}  # fmt: skip
