"""Cloud Functions v2 (functions, generateUploadUrl, operations), the Eventarc v1 triggers it
makes for `--trigger-topic`, and Cloud Run's service IAM (v1 and v2) behind gen2 invokers."""

from __future__ import annotations

import copy
from typing import Any

from . import policy, pubsub, storage
from .server import ApiError, FakeGoogle, Project, Request, Router, not_found

router = Router()
LOC = "/projects/{project}/locations/{location}"
CF = "/cloudfunctions/v2" + LOC
TYPE = "type.googleapis.com/google.cloud.functions.v2.Function"


def _function(fake: FakeGoogle, r: Request) -> tuple[Project, dict[str, Any]]:
    p = fake.project(r.params["project"])
    found = p.functions.get(r.params["name"])
    if found is None:
        raise not_found(f"Resource 'projects/{p.id}/locations/{r.params['location']}/functions/"
                        f"{r.params['name']}' was")  # fmt: skip
    return p, found


def _done(fake: FakeGoogle, p: Project, r: Request, verb: str, fn: dict[str, Any]) -> Any:
    name = f"projects/{p.id}/locations/{r.params['location']}/operations/operation-{fake.new_id()}"
    meta = {"@type": "type.googleapis.com/google.cloud.functions.v2.OperationMetadata",
            "target": fn["name"], "verb": verb, "apiVersion": "v2"}  # fmt: skip
    return fake.operation(p, name, {"@type": TYPE, **fn}, meta)


def _build(fake: FakeGoogle, p: Project, location: str, short: str, fn: dict[str, Any]) -> None:
    """The uploaded zip must be there; as Cloud Functions does, it is copied to the
    gcf-v2-sources bucket, which the function's source then names."""
    source = fn.get("buildConfig", {}).get("source", {}).get("storageSource", {})
    if not source or source.get("bucket", "").startswith("gcf-v2-sources-"):
        return
    if source.get("object") not in fake.uploads:
        raise ApiError(400, f"Source object {source.get('object')} was not uploaded.")
    name = f"gcf-v2-sources-{p.number}-{location}"
    bucket = p.buckets.get(name) or storage.make_bucket(p, name, location)
    obj = f"{short}/function-source.zip"
    storage.put_object(bucket, obj, len(fake.uploads[source["object"]]))
    source.update(bucket=name, object=obj, generation="1")


def _wire(fake: FakeGoogle, p: Project, location: str, fn: dict[str, Any]) -> None:
    """What Cloud Functions makes for an event trigger: an Eventarc trigger and its push
    subscription on the topic."""
    event = fn.get("eventTrigger")
    if not event or event.get("trigger"):
        return
    short = fn["name"].rsplit("/", 1)[-1]
    tid = f"{short}-{fake.new_id()}"
    sub = f"eventarc-{location}-{tid}-sub-{fake.new_id()}"
    topic = event["pubsubTopic"].rsplit("/", 1)[-1]
    if topic not in p.topics:
        raise ApiError(400, f"Topic {event['pubsubTopic']} does not exist.")
    pubsub.make_subscription(p, sub, topic, pushConfig={"pushEndpoint": fn["url"]})
    trigger = f"projects/{p.id}/locations/{location}/triggers/{tid}"
    p.triggers[tid] = {
        "name": trigger,
        "uid": fake.new_id(),
        "eventFilters": [{"attribute": "type", "value": event["eventType"]}],
        "serviceAccount": event.get("serviceAccountEmail", ""),
        "destination": {"cloudRun": {"service": short, "region": location}},
        "transport": {
            "pubsub": {
                "topic": event["pubsubTopic"],
                "subscription": f"projects/{p.id}/subscriptions/{sub}",
            }
        },
    }
    event.update(trigger=trigger, triggerRegion=location)


@router.add("GET", CF + "/functions/{name}")
def get(fake: FakeGoogle, r: Request) -> Any:
    """cloudfunctions.projects.locations.functions.get"""
    return _function(fake, r)[1]


@router.add("POST", CF + "/functions")
def create(fake: FakeGoogle, r: Request) -> Any:
    """cloudfunctions.projects.locations.functions.create (`functionId` in the query)"""
    p, loc, short = fake.project(r.params["project"]), r.params["location"], r.query["functionId"]
    if short in p.functions:
        raise ApiError(409, f"Function {short} in region {loc} in project {p.id} already exists")
    name = f"projects/{p.id}/locations/{loc}/functions/{short}"
    url = f"https://{loc}-{p.id}.cloudfunctions.net/{short}"
    fn = {**copy.deepcopy(r.body), "name": name, "state": "ACTIVE", "environment": "GEN_2",
          "url": url}  # fmt: skip
    fn.setdefault("serviceConfig", {}).update(
        service=f"projects/{p.id}/locations/{loc}/services/{short.replace('_', '-')}", uri=url
    )
    _build(fake, p, loc, short, fn)
    _wire(fake, p, loc, fn)
    p.functions[short] = fn
    p.images.add(image_of(p, loc, short))
    return _done(fake, p, r, "create", fn)


@router.add("PATCH", CF + "/functions/{name}")
def patch(fake: FakeGoogle, r: Request) -> Any:
    """cloudfunctions.projects.locations.functions.patch: the fields of `updateMask`."""
    p, fn = _function(fake, r)
    for path in filter(None, r.query.get("updateMask", "").split(",")):
        *parents, leaf = path.split(".")
        src, dst = r.body, fn
        for key in parents:
            src, dst = src.get(key, {}), dst.setdefault(key, {})
        if leaf in src:
            dst[leaf] = copy.deepcopy(src[leaf])
        else:
            dst.pop(leaf, None)
    _build(fake, p, r.params["location"], r.params["name"], fn)
    return _done(fake, p, r, "update", fn)


@router.add("DELETE", CF + "/functions/{name}")
def delete(fake: FakeGoogle, r: Request) -> Any:
    """cloudfunctions.projects.locations.functions.delete: its trigger and subscription go."""
    p, fn = _function(fake, r)
    trigger = p.triggers.pop(fn.get("eventTrigger", {}).get("trigger", "").rsplit("/", 1)[-1], {})
    sub = trigger.get("transport", {}).get("pubsub", {}).get("subscription", "")
    p.subscriptions.pop(sub.rsplit("/", 1)[-1], None)
    del p.functions[r.params["name"]]
    return _done(fake, p, r, "delete", fn)


@router.add("POST", CF + "/functions:generateUploadUrl")
def generate_upload_url(fake: FakeGoogle, r: Request) -> Any:
    """cloudfunctions.projects.locations.functions.generateUploadUrl: the zip is PUT to the
    fake itself."""
    p = fake.project(r.params["project"])
    obj = f"{p.id}-{fake.new_id()}.zip"
    return {"uploadUrl": f"{fake.url}/upload/{obj}",
            "storageSource": {"bucket": f"gcf-v2-uploads-{p.number}-{r.params['location']}",
                              "object": obj}}  # fmt: skip


@router.add("PUT", "/upload/{object}")
def upload(fake: FakeGoogle, r: Request) -> Any:
    """The signed upload URL's PUT of the source zip."""
    if not r.raw.startswith(b"PK"):
        raise ApiError(400, "not a zip")
    fake.uploads[r.params["object"]] = r.raw
    r.raw = b""  # keep the log small
    return b""


@router.add("GET", CF + "/operations/{id}")
def operation(fake: FakeGoogle, r: Request) -> Any:
    """cloudfunctions.projects.locations.operations.get"""
    p = fake.project(r.params["project"])
    name = f"projects/{p.id}/locations/{r.params['location']}/operations/{r.params['id']}"
    if name not in p.operations:
        raise not_found(f"Operation {name}")
    return p.operations[name]


@router.add("GET", "/eventarc/v1" + LOC + "/triggers/{name}")
def get_trigger(fake: FakeGoogle, r: Request) -> Any:
    """eventarc.projects.locations.triggers.get"""
    p = fake.project(r.params["project"])
    if r.params["name"] not in p.triggers:
        raise not_found(f"Trigger {r.params['name']}")
    return p.triggers[r.params["name"]]


def _service_policy(fake: FakeGoogle, r: Request) -> dict[str, Any]:
    p = fake.project(r.params["project"])
    services = {f["serviceConfig"]["service"].rsplit("/", 1)[-1] for f in p.functions.values()}
    if r.params["name"] not in services:
        raise not_found(f"Service {r.params['name']}")
    return p.run_policies.setdefault(r.params["name"], {})


for version in ("v1", "v2"):
    base = f"/run/{version}{LOC}/services/{{name}}"

    def _get_iam(fake: FakeGoogle, r: Request) -> Any:
        """run.projects.locations.services.getIamPolicy"""
        return policy.get(_service_policy(fake, r))

    def _set_iam(fake: FakeGoogle, r: Request) -> Any:
        """run.projects.locations.services.setIamPolicy"""
        return policy.put(fake, _service_policy(fake, r), r.body["policy"])

    router.add("GET", base + ":getIamPolicy")(_get_iam)
    router.add("POST", base + ":getIamPolicy")(_get_iam)
    router.add("POST", base + ":setIamPolicy")(_set_iam)


def image_of(p: Project, location: str, short: str) -> str:
    """The image a build pushes to the project's gcf-artifacts repository (the fake's name)."""
    return f"{location}-docker.pkg.dev/{p.id}/gcf-artifacts/{p.id}__{location}__{short}"


@router.add("GET", "/run/apis/serving.knative.dev/v1/namespaces/{project}/services/{name}")
def run_service(fake: FakeGoogle, r: Request) -> Any:
    """run.namespaces.services.get (Cloud Run admin API v1, the Knative Service resource)"""
    p = fake.project(r.params["project"])
    for short, fn in p.functions.items():
        if fn["serviceConfig"]["service"].rsplit("/", 1)[-1] == r.params["name"]:
            location = fn["name"].split("/")[3]
            container = {"image": image_of(p, location, short) + ":version_1"}
            return {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
                    "metadata": {"name": r.params["name"], "namespace": p.number},
                    "spec": {"template": {"spec": {"containers": [container]}}},
                    "status": {"url": fn["url"]}}  # fmt: skip
    raise not_found(f"Service {r.params['name']}")


@router.add("GET", CF + "/runtimes")
def runtimes(fake: FakeGoogle, r: Request) -> Any:
    """cloudfunctions.projects.locations.runtimes.list"""
    return {"runtimes": [{"name": "python312", "displayName": "Python 3.12", "stage": "GA",
                          "environment": "GEN_2"}]}  # fmt: skip
