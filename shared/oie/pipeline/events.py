"""Turning a CloudEvent (storage finalize, or Pub/Sub message) into a classify request.

Whatever the event holds, reading it either gives a request or raises BadEvent (a 4xx:
logged and acknowledged), never another exception, which would be a 500 and have the
platform deliver the same bad event again for a day.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..errors import BadEvent
from ..keys import is_image_id
from ..logs import log
from ..times import parse_event_time

__all__ = ["BadEvent", "ClassifyRequest", "dropped", "for_image_id", "for_object",
           "from_cloudevent"]  # fmt: skip
STORAGE_FINALIZED = "google.cloud.storage.object.v1.finalized"
PUBSUB_PUBLISHED = "google.cloud.pubsub.topic.v1.messagePublished"
GS_URI = re.compile(r"gs://([^/]+)/(.+)", re.DOTALL)
# Object names by Cloud Storage's rules (https://cloud.google.com/storage/docs/objects#naming);
# buckets loosely, as one that is not this stack's is a `rejected` row, whatever its name:
# only what would make the key `bucket/name#generation` ambiguous, or the log unreadable.
BUCKET_NAME = re.compile(r"[^/#\x00-\x1f\x7f]{1,222}")
MAX_NAME_BYTES = 1024
GENERATION = re.compile(r"0*[0-9]{1,19}")  # an int64, as the JSON API writes it (a string)


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


def dropped(reason: str, **fields: Any) -> None:
    """The one log line of an event that is acknowledged without a row: "event dropped: "
    and why, with `reason` and `key` among the fields (grep for "event dropped")."""
    fields.setdefault("key", "")
    log("WARNING", f"event dropped: {reason}", reason=reason, **fields)


def check_object_name(name: object) -> str:
    """`name` if Cloud Storage could hold it as an object that is a file; else BadEvent."""
    if not isinstance(name, str) or not name:
        raise BadEvent("a storage event needs an object name")
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        raise BadEvent(f"object name {name!r} is not UTF-8") from None
    if size > MAX_NAME_BYTES:
        raise BadEvent(f"object name is {size:,} bytes; Cloud Storage allows {MAX_NAME_BYTES:,}")
    if "\r" in name or "\n" in name:
        raise BadEvent(f"object name {name!r} has a line break, which Cloud Storage refuses")
    if name in (".", "..") or name.startswith(".well-known/acme-challenge/"):
        raise BadEvent(f"object name {name!r} is reserved by Cloud Storage")
    if name.endswith("/"):
        raise BadEvent(f"object {name!r} is a folder placeholder, not an image")
    return name


def _generation(value: object) -> str:
    """A generation in its one spelling ("7", not "007" or 7.0), so one object version is
    one key."""
    number = value if isinstance(value, int) and not isinstance(value, bool) else None
    if isinstance(value, str) and GENERATION.fullmatch(value):
        number = int(value)
    if number is None or not 0 < number < 1 << 63:
        raise BadEvent(f"generation {value!r} is not a positive integer")
    return str(number)


def for_object(
    bucket: object, name: object, generation: object = None, **extra: Any
) -> ClassifyRequest:
    if not isinstance(bucket, str) or not bucket:
        raise BadEvent("a storage event needs a bucket and an object name")
    if not BUCKET_NAME.fullmatch(bucket):
        raise BadEvent(f"bucket {bucket!r} is not a Cloud Storage bucket name")
    name = check_object_name(name)
    gen = "" if generation is None or generation == "" else _generation(generation)
    return ClassifyRequest(
        key=f"{bucket}/{name}#{gen}", source_uri=f"gs://{bucket}/{name}",
        bucket=bucket, object=name, generation=gen, **extra,
    )  # fmt: skip


def for_image_id(image_id: object, **extra: Any) -> ClassifyRequest:
    if not is_image_id(image_id):
        raise BadEvent(f"image_id {image_id!r} is not 16 hexadecimal digits")
    assert isinstance(image_id, str)
    image_id = image_id.lower()
    return ClassifyRequest(key=image_id, source_uri=f"openimages:{image_id}", image_id=image_id,
                           **extra)  # fmt: skip


def _time(value: Any) -> datetime | None:
    """The event's time in UTC; None when it has none (the attribute is optional)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        raise BadEvent(f"event time {value!r} is not an RFC 3339 time")
    try:
        return parse_event_time(value)
    except ValueError as exc:
        raise BadEvent(f"event time {value!r} is not an RFC 3339 time with a zone") from exc


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadEvent(f"{what} is a {type(value).__name__}, not a JSON object")
    return value


def from_message(message: Any, **extra: Any) -> ClassifyRequest:
    """A Pub/Sub message: a GCS notification (JSON_API_V1) or a request {"uri"|"image_id"}."""
    message = _object(message, "message")
    attributes = _object(message.get("attributes") or {}, "message.attributes")
    if "eventType" in attributes:
        if attributes["eventType"] != "OBJECT_FINALIZE":
            raise BadEvent(f"notification {attributes['eventType']!r} is not a new object")
        return for_object(attributes.get("bucketId"), attributes.get("objectId"),
                          attributes.get("objectGeneration"), **extra)  # fmt: skip
    data = message.get("data") or ""
    if not isinstance(data, str):
        raise BadEvent(f"message data is a {type(data).__name__}, not base64 text")
    try:
        body = json.loads(base64.b64decode(data, validate=True) or b"null")
    except (binascii.Error, ValueError, RecursionError) as exc:  # ValueError: JSON, UTF-8
        raise BadEvent(f"message data is not base64 JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadEvent('a request is a JSON object: {"uri": "gs://b/o"} or {"image_id": "..."}')
    if "uri" in body:
        found = GS_URI.fullmatch(body["uri"]) if isinstance(body["uri"], str) else None
        if not found:
            raise BadEvent(f"uri {body['uri']!r} is not gs://bucket/object")
        return for_object(found[1], found[2], body.get("generation"), **extra)
    if "image_id" in body:
        return for_image_id(body["image_id"], **extra)
    raise BadEvent('a request needs "uri" or "image_id"')


def from_cloudevent(event: Any) -> ClassifyRequest:
    """Read a functions-framework CloudEvent of either trigger style."""
    kind = event["type"]
    extra = {"event_id": event["id"], "event_time": _time(event.get("time"))}
    if kind == STORAGE_FINALIZED:
        data = _object(event.data, "the event's data")
        return for_object(data.get("bucket"), data.get("name"), data.get("generation"), **extra)
    if kind == PUBSUB_PUBLISHED:
        data = _object(event.data, "the event's data")
        return from_message(data.get("message"), **extra)
    raise BadEvent(f"event type {kind!r} is not handled")
