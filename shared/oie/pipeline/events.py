"""Turning a CloudEvent (storage finalize, or Pub/Sub message) into a classify request."""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..errors import BadEvent
from ..keys import IMAGE_ID
from ..times import parse_time

__all__ = ["BadEvent", "ClassifyRequest", "for_image_id", "for_object", "from_cloudevent"]
STORAGE_FINALIZED = "google.cloud.storage.object.v1.finalized"
PUBSUB_PUBLISHED = "google.cloud.pubsub.topic.v1.messagePublished"
GS_URI = re.compile(r"^gs://([^/]+)/(.+)$")


@dataclass(frozen=True)
class ClassifyRequest:
    """What to classify, and the idempotency key that names it."""

    key: str  # bucket/name#generation, or the Open Images image id
    source_uri: str
    bucket: str = ""
    object: str = ""
    generation: str = ""
    image_id: str = ""
    event_id: str = ""
    event_time: datetime | None = None


def for_object(
    bucket: str, name: str, generation: str | int | None, **extra: Any
) -> ClassifyRequest:
    if not bucket or not name:
        raise BadEvent("a storage event needs a bucket and an object name")
    gen = str(generation or "")
    return ClassifyRequest(
        key=f"{bucket}/{name}#{gen}", source_uri=f"gs://{bucket}/{name}",
        bucket=bucket, object=name, generation=gen, **extra,
    )  # fmt: skip


def for_image_id(image_id: str, **extra: Any) -> ClassifyRequest:
    if not IMAGE_ID.match(image_id or ""):
        raise BadEvent(f"image_id {image_id!r} is not 16 hexadecimal digits")
    image_id = image_id.lower()
    return ClassifyRequest(key=image_id, source_uri=f"openimages:{image_id}", image_id=image_id,
                           **extra)  # fmt: skip


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        try:
            return parse_time(value)
        except ValueError:
            return None
    return None


def from_message(message: dict[str, Any], **extra: Any) -> ClassifyRequest:
    """A Pub/Sub message: a GCS notification (JSON_API_V1) or a request {"uri"|"image_id"}."""
    attributes = message.get("attributes") or {}
    if attributes.get("eventType"):
        if attributes["eventType"] != "OBJECT_FINALIZE":
            raise BadEvent(f"notification {attributes['eventType']} is not a new object")
        return for_object(attributes.get("bucketId", ""), attributes.get("objectId", ""),
                          attributes.get("objectGeneration"), **extra)  # fmt: skip
    try:
        body = json.loads(base64.b64decode(message.get("data") or "", validate=True) or b"null")
    except (binascii.Error, ValueError) as exc:
        raise BadEvent(f"message data is not base64 JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise BadEvent('a request is a JSON object: {"uri": "gs://b/o"} or {"image_id": "..."}')
    if "uri" in body:
        found = GS_URI.match(str(body["uri"]))
        if not found:
            raise BadEvent(f"uri {body['uri']!r} is not gs://bucket/object")
        return for_object(found[1], found[2], body.get("generation"), **extra)
    if "image_id" in body:
        return for_image_id(str(body["image_id"]), **extra)
    raise BadEvent('a request needs "uri" or "image_id"')


def from_cloudevent(event: Any) -> ClassifyRequest:
    """Read a functions-framework CloudEvent of either trigger style."""
    kind = event["type"]
    extra = {"event_id": event["id"], "event_time": _time(event.get("time"))}
    data = event.data if isinstance(event.data, dict) else {}
    if kind == STORAGE_FINALIZED:
        return for_object(data.get("bucket", ""), data.get("name", ""), data.get("generation"),
                          **extra)  # fmt: skip
    if kind == PUBSUB_PUBLISHED:
        return from_message(data.get("message") or {}, **extra)
    raise BadEvent(f"event type {kind!r} is not handled")
