"""What the classifier functions run for each event: parse, classify once, acknowledge."""

from __future__ import annotations

from typing import Any

from .. import adapters, settings
from ..logs import log
from .events import BadEvent, ClassifyRequest, for_object, from_cloudevent
from .runner import ObjectGone, fetch_url


def fetch(request: ClassifyRequest) -> bytes:
    """The bytes to classify: the bucket's object, or the Open Images photo."""
    if request.image_id:
        return fetch_url(settings.get().image_url(request.image_id))
    store = adapters.blobstore()
    if request.bucket != store.bucket:
        raise ObjectGone(f"bucket {request.bucket!r} is not this stack's {store.bucket!r}")
    try:
        return store.get(request.object)
    except FileNotFoundError as exc:
        raise ObjectGone(f"{request.source_uri} no longer exists") from exc


def handle_event(event: Any, classifier: str) -> str:
    """Returns the outcome; raising instead makes the platform deliver the event again."""
    try:
        request = from_cloudevent(event)
    except BadEvent as exc:
        log("WARNING", f"event dropped: {exc}", event_id=event["id"], classifier=classifier)
        return "bad-event"
    return adapters.runner(classifier).handle(current_generation(request))


def current_generation(request: ClassifyRequest) -> ClassifyRequest:
    """A request for gs://bucket/object names no generation: key it by the object's
    current one, so it meets the notification of that same object as one key."""
    if not request.bucket or request.generation:
        return request
    store = adapters.blobstore()
    found = store.stat(request.object) if request.bucket == store.bucket else None
    if found is None:
        return request  # classified as gone, under the key without a generation
    return for_object(request.bucket, request.object, found.generation,
                      event_id=request.event_id, event_time=request.event_time)  # fmt: skip
