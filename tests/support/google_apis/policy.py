"""IAM policies as every API here keeps them: `getIamPolicy` / `setIamPolicy` with an etag."""

from __future__ import annotations

import copy
from typing import Any

from .server import ApiError, FakeGoogle

ACCOUNT_DOMAIN = ".iam.gserviceaccount.com"


def check_members(fake: FakeGoogle, policy: dict[str, Any]) -> None:
    """A user-managed service account must exist before it is granted anything, as IAM
    answers: 400 "Service account ... does not exist."."""
    for binding in policy.get("bindings", []):
        for member in binding.get("members", []):
            kind, _, email = member.partition(":")
            owner = email.split("@")[-1].removesuffix(ACCOUNT_DOMAIN)
            if kind != "serviceAccount" or not email.endswith(ACCOUNT_DOMAIN):
                continue
            if owner in fake.projects and email not in fake.projects[owner].accounts:
                raise ApiError(400, f"Service account {email} does not exist.")


def get(stored: dict[str, Any]) -> dict[str, Any]:
    """The policy with its etag; an empty one gets an etag on first read."""
    stored.setdefault("etag", "ACAB")
    stored.setdefault("version", 1)
    return copy.deepcopy(stored)


def put(fake: FakeGoogle, stored: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Replace `stored` by `new` unless its etag is stale (409 ABORTED, as Google answers)."""
    if new.get("etag") and stored.get("etag") and new["etag"] != stored["etag"]:
        raise ApiError(409, "There were concurrent policy changes.", "ABORTED")
    check_members(fake, new)
    stored.clear()
    stored.update(copy.deepcopy(new))
    stored["bindings"] = [b for b in stored.get("bindings", []) if b.get("members")]
    stored["etag"] = fake.etag()
    return get(stored)


def members(stored: dict[str, Any], role: str) -> list[str]:
    return [m for b in stored.get("bindings", []) if b["role"] == role for m in b["members"]]
