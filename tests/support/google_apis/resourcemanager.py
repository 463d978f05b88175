"""Cloud Resource Manager v1 (projects get, getIamPolicy, setIamPolicy) and Service Usage v1
(services enable, batchEnable, operations get)."""

from __future__ import annotations

from typing import Any

from . import policy
from .server import FakeGoogle, Request, Router, not_found

router = Router()
CRM = "/cloudresourcemanager/v1/projects/{project}"
SU = "/serviceusage/v1"


@router.add("GET", CRM)
def get_project(fake: FakeGoogle, r: Request) -> Any:
    """cloudresourcemanager.projects.get"""
    p = fake.project(r.params["project"])
    return {"projectNumber": p.number, "projectId": p.id, "lifecycleState": "ACTIVE",
            "name": p.id, "createTime": "2024-01-01T00:00:00.000Z"}  # fmt: skip


@router.add("POST", CRM + ":getIamPolicy")
def get_iam(fake: FakeGoogle, r: Request) -> Any:
    """cloudresourcemanager.projects.getIamPolicy"""
    return policy.get(fake.project(r.params["project"]).policy)


@router.add("POST", CRM + ":setIamPolicy")
def set_iam(fake: FakeGoogle, r: Request) -> Any:
    """cloudresourcemanager.projects.setIamPolicy"""
    return policy.put(fake, fake.project(r.params["project"]).policy, r.body["policy"])


@router.add("POST", SU + "/projects/{project}/services:batchEnable")
def batch_enable(fake: FakeGoogle, r: Request) -> Any:
    """serviceusage.services.batchEnable: a long-running operation."""
    p = fake.project(r.params["project"])
    p.services.update(r.body["serviceIds"])
    services = [{"name": f"projects/{p.number}/services/{s}", "state": "ENABLED"}
                for s in r.body["serviceIds"]]  # fmt: skip
    return fake.operation(p, f"operations/acf.p2-{p.number}-{fake.new_id()}",
                          {"@type": "type.googleapis.com/google.api.serviceusage.v1."
                           "BatchEnableServicesResponse", "services": services})  # fmt: skip


@router.add("POST", SU + "/projects/{project}/services/{service}:enable")
def enable(fake: FakeGoogle, r: Request) -> Any:
    """serviceusage.services.enable"""
    r.body = {"serviceIds": [r.params["service"]]}
    return batch_enable(fake, r)


@router.add("GET", SU + "/projects/{project}/services/{service}")
def get_service(fake: FakeGoogle, r: Request) -> Any:
    """serviceusage.services.get"""
    p = fake.project(r.params["project"])
    state = "ENABLED" if r.params["service"] in p.services else "DISABLED"
    return {
        "name": f"projects/{p.number}/services/{r.params['service']}",
        "state": state,
        "parent": f"projects/{p.number}",
    }


@router.add("GET", SU + "/operations/{id}")
def operation(fake: FakeGoogle, r: Request) -> Any:
    """serviceusage.operations.get"""
    for p in fake.projects.values():
        if f"operations/{r.params['id']}" in p.operations:
            return p.operations[f"operations/{r.params['id']}"]
    raise not_found(f"Operation operations/{r.params['id']}")
