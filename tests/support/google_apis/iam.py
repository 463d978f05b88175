"""IAM v1: service accounts (projects.serviceAccounts get, create, delete)."""

from __future__ import annotations

from typing import Any

from .policy import ACCOUNT_DOMAIN
from .server import ApiError, FakeGoogle, Request, Router, not_found

router = Router()
V1 = "/iam/v1/projects/{project}/serviceAccounts"


def _lookup(fake: FakeGoogle, email: str) -> tuple[str, dict[str, Any]]:
    owner = email.split("@")[-1].removesuffix(ACCOUNT_DOMAIN)
    account = fake.project(owner).accounts.get(email)
    if account is None:
        raise not_found(f"Unknown service account {email}")
    return owner, account


@router.add("GET", V1 + "/{email}")
def get(fake: FakeGoogle, r: Request) -> Any:
    """iam.projects.serviceAccounts.get (the project may be `-`)"""
    return _lookup(fake, r.params["email"])[1]


@router.add("POST", V1)
def create(fake: FakeGoogle, r: Request) -> Any:
    """iam.projects.serviceAccounts.create"""
    p = fake.project(r.params["project"])
    email = f"{r.body['accountId']}@{p.id}{ACCOUNT_DOMAIN}"
    if email in p.accounts:
        raise ApiError(409, f"Service account {r.body['accountId']} already exists within project "
                       f"projects/{p.id}.")  # fmt: skip
    uid = str(10**20 + int(fake.new_id()))
    p.accounts[email] = {"name": f"projects/{p.id}/serviceAccounts/{email}",
                         "projectId": p.id, "uniqueId": uid, "email": email, "etag": "MDEwMjE5MjA=",
                         "oauth2ClientId": uid, **r.body.get("serviceAccount", {})}  # fmt: skip
    return p.accounts[email]


@router.add("DELETE", V1 + "/{email}")
def delete(fake: FakeGoogle, r: Request) -> Any:
    """iam.projects.serviceAccounts.delete"""
    owner, _ = _lookup(fake, r.params["email"])
    del fake.project(owner).accounts[r.params["email"]]
    return {}
