"""Cloud Storage JSON API v1: buckets' IAM, notification configs, the service agent."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from . import policy
from .server import ApiError, FakeGoogle, Project, Request, Router, not_found

router = Router()
V1 = "/storage/v1"


def bucket(fake: FakeGoogle, name: str) -> tuple[Project, dict[str, Any]]:
    for project in fake.projects.values():
        if name in project.buckets:
            return project, project.buckets[name]
    raise not_found(f"The specified bucket {name}")


def make_bucket(project: Project, name: str, location: str) -> dict[str, Any]:
    """A bucket as provisioning makes it (the fake does not implement buckets.insert)."""
    made = {"kind": "storage#bucket", "id": name, "name": name, "location": location.upper(),
            "projectNumber": project.number, "storageClass": "STANDARD",
            "iamConfiguration": {"uniformBucketLevelAccess": {"enabled": True}},
            "policy": {"bindings": []}, "notifications": {}}  # fmt: skip
    project.buckets[name] = made
    return made


def public(b: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in b.items() if k not in ("policy", "notifications", "objects")}


@router.add("GET", V1 + "/b/{bucket}")
def get_bucket(fake: FakeGoogle, r: Request) -> Any:
    """storage.buckets.get"""
    return public(bucket(fake, r.params["bucket"])[1])


@router.add("GET", V1 + "/b/{bucket}/iam")
def get_iam(fake: FakeGoogle, r: Request) -> Any:
    """storage.buckets.getIamPolicy"""
    b = bucket(fake, r.params["bucket"])[1]
    return {"kind": "storage#policy", "resourceId": f"projects/_/buckets/{b['name']}",
            **policy.get(b["policy"])}  # fmt: skip


@router.add("PUT", V1 + "/b/{bucket}/iam")
def set_iam(fake: FakeGoogle, r: Request) -> Any:
    """storage.buckets.setIamPolicy"""
    b = bucket(fake, r.params["bucket"])[1]
    new = {k: v for k, v in r.body.items() if k in ("bindings", "etag", "version")}
    return {"kind": "storage#policy", "resourceId": f"projects/_/buckets/{b['name']}",
            **policy.put(fake, b["policy"], new)}  # fmt: skip


@router.add("GET", V1 + "/b/{bucket}/notificationConfigs")
def list_notifications(fake: FakeGoogle, r: Request) -> Any:
    """storage.notifications.list"""
    b = bucket(fake, r.params["bucket"])[1]
    return {"kind": "storage#notifications", "items": list(b["notifications"].values())}


@router.add("GET", V1 + "/b/{bucket}/notificationConfigs/{id}")
def get_notification(fake: FakeGoogle, r: Request) -> Any:
    """storage.notifications.get"""
    b = bucket(fake, r.params["bucket"])[1]
    if r.params["id"] not in b["notifications"]:
        raise not_found(f"Notification {r.params['id']}")
    return b["notifications"][r.params["id"]]


@router.add("POST", V1 + "/b/{bucket}/notificationConfigs")
def insert_notification(fake: FakeGoogle, r: Request) -> Any:
    """storage.notifications.insert: the topic must exist and the bucket's project's service
    agent must be allowed to publish to it; at most 10 configs per event type."""
    owner, b = bucket(fake, r.params["bucket"])
    topic = r.body.get("topic", "").removeprefix("//pubsub.googleapis.com/")
    _, project_id, _, topic_id = (topic.split("/") + [""] * 4)[:4]
    known = fake.projects.get(project_id)
    if known is None or topic_id not in known.topics:
        raise ApiError(400, f"Cloud Pub/Sub topic {topic} does not exist.")
    agent = f"serviceAccount:{agent_of(owner)}"
    topic_policy = known.topics[topic_id]["policy"]
    if agent not in policy.members(topic_policy, "roles/pubsub.publisher"):
        raise ApiError(403, f"{agent_of(owner)} does not have pubsub.topics.publish on {topic}")
    types = r.body.get("event_types") or ["ALL"]
    for kind in types:
        same = [n for n in b["notifications"].values() if kind in (n.get("event_types") or ["ALL"])]
        if len(same) >= 10:
            raise ApiError(400, "At most 10 notification configurations per event type.")
    nid = fake.new_id()
    made = {"kind": "storage#notification", "id": nid, "etag": nid, **r.body,
            "topic": f"//pubsub.googleapis.com/{topic}",
            "selfLink": f"{V1}/b/{b['name']}/notificationConfigs/{nid}"}  # fmt: skip
    b["notifications"][nid] = made
    return made


@router.add("DELETE", V1 + "/b/{bucket}/notificationConfigs/{id}")
def delete_notification(fake: FakeGoogle, r: Request) -> Any:
    """storage.notifications.delete"""
    b = bucket(fake, r.params["bucket"])[1]
    if b["notifications"].pop(r.params["id"], None) is None:
        raise not_found(f"Notification {r.params['id']}")
    return b""


def _object(fake: FakeGoogle, r: Request) -> tuple[dict[str, Any], dict[str, Any]]:
    b = bucket(fake, r.params["bucket"])[1]
    name = unquote(r.params["object"])  # an object name is one path segment, escaped
    found = b.setdefault("objects", {}).get(name)
    if found is None:
        raise not_found(f"No such object: {b['name']}/{name}")
    return b, found


@router.add("GET", V1 + "/b/{bucket}/o")
def list_objects(fake: FakeGoogle, r: Request) -> Any:
    """storage.objects.list (by prefix)"""
    b = bucket(fake, r.params["bucket"])[1]
    prefix = r.query.get("prefix", "")
    items = [o for n, o in b.get("objects", {}).items() if n.startswith(prefix)]
    return {"kind": "storage#objects", "items": items}


@router.add("GET", V1 + "/b/{bucket}/o/{object+}")
def get_object(fake: FakeGoogle, r: Request) -> Any:
    """storage.objects.get (metadata)"""
    return _object(fake, r)[1]


@router.add("DELETE", V1 + "/b/{bucket}/o/{object+}")
def delete_object(fake: FakeGoogle, r: Request) -> Any:
    """storage.objects.delete"""
    b, found = _object(fake, r)
    del b["objects"][found["name"]]
    return b""


def put_object(b: dict[str, Any], name: str, size: int) -> None:
    b.setdefault("objects", {})[name] = {"kind": "storage#object", "bucket": b["name"],
                                         "name": name, "size": str(size), "generation": "1",
                                         "metageneration": "1"}  # fmt: skip


def agent_of(project: Project) -> str:
    return f"service-{project.number}@gs-project-accounts.iam.gserviceaccount.com"


@router.add("GET", V1 + "/projects/{project}/serviceAccount")
def service_agent(fake: FakeGoogle, r: Request) -> Any:
    """storage.projects.serviceAccount.get"""
    p = fake.project(r.params["project"])
    return {"kind": "storage#serviceAccount", "email_address": agent_of(p)}
