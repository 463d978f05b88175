"""Pub/Sub v1 REST: topics and subscriptions, their IAM policies, subscription updates."""

from __future__ import annotations

from typing import Any

from . import policy
from .server import FakeGoogle, Project, Request, Router, not_found

router = Router()
V1 = "/pubsub/v1/projects/{project}"


def make_topic(project: Project, name: str) -> dict[str, Any]:
    """A topic as provisioning makes it (topics.create is not part of what gcloud sends)."""
    project.topics[name] = {"name": f"projects/{project.id}/topics/{name}", "policy": {}}
    return project.topics[name]


def make_subscription(project: Project, name: str, topic: str, **fields: Any) -> dict[str, Any]:
    made = {"name": f"projects/{project.id}/subscriptions/{name}",
            "topic": f"projects/{project.id}/topics/{topic}", "ackDeadlineSeconds": 10,
            **fields, "policy": {}}  # fmt: skip
    project.subscriptions[name] = made
    return made


def _find(fake: FakeGoogle, r: Request, kind: str) -> tuple[Project, dict[str, Any]]:
    p = fake.project(r.params["project"])
    found = getattr(p, kind).get(r.params["name"])
    if found is None:
        singular = kind.rstrip("s").capitalize()
        raise not_found(f"Resource not found (resource={r.params['name']}). {singular}")
    return p, found


def _public(resource: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if k != "policy"}


for kind in ("topics", "subscriptions"):

    def _get(fake: FakeGoogle, r: Request, kind: str = kind) -> Any:
        """pubsub.projects.topics.get / pubsub.projects.subscriptions.get"""
        return _public(_find(fake, r, kind)[1])

    def _delete(fake: FakeGoogle, r: Request, kind: str = kind) -> Any:
        """pubsub.projects.topics.delete / pubsub.projects.subscriptions.delete"""
        p, _ = _find(fake, r, kind)
        del getattr(p, kind)[r.params["name"]]
        return {}

    def _get_iam(fake: FakeGoogle, r: Request, kind: str = kind) -> Any:
        """pubsub.projects.{topics,subscriptions}.getIamPolicy"""
        return policy.get(_find(fake, r, kind)[1]["policy"])

    def _set_iam(fake: FakeGoogle, r: Request, kind: str = kind) -> Any:
        """pubsub.projects.{topics,subscriptions}.setIamPolicy"""
        return policy.put(fake, _find(fake, r, kind)[1]["policy"], r.body["policy"])

    router.add("GET", f"{V1}/{kind}/{{name}}")(_get)
    router.add("DELETE", f"{V1}/{kind}/{{name}}")(_delete)
    router.add("GET", f"{V1}/{kind}/{{name}}:getIamPolicy")(_get_iam)
    router.add("POST", f"{V1}/{kind}/{{name}}:getIamPolicy")(_get_iam)
    router.add("POST", f"{V1}/{kind}/{{name}}:setIamPolicy")(_set_iam)


@router.add("PATCH", V1 + "/subscriptions/{name}")
def patch_subscription(fake: FakeGoogle, r: Request) -> Any:
    """pubsub.projects.subscriptions.patch: the fields named in `updateMask`; a dead-letter
    topic must exist."""
    p, sub = _find(fake, r, "subscriptions")
    new = r.body["subscription"]
    dead = new.get("deadLetterPolicy", {}).get("deadLetterTopic")
    if dead and dead.rsplit("/", 1)[-1] not in p.topics:
        raise not_found(f"Resource not found (resource={dead}). Topic")
    for path in r.body.get("updateMask", "").split(","):
        top = path.split(".")[0]
        if top in new:
            sub[top] = new[top]
        else:
            sub.pop(top, None)
    return _public(sub)
