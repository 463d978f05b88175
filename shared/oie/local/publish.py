"""`oie publish` on the local stack: a Pub/Sub-shaped CloudEvent to each classifier function."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent

from ..pipeline.events import PUBSUB_PUBLISHED, from_message


class PublishFailed(RuntimeError):
    pass


def publish_to_topic(project: str, topic: str, body: dict[str, Any]) -> str:
    """Publish the request to the Pub/Sub topic (Google Cloud, or PUBSUB_EMULATOR_HOST)."""
    from google.cloud import pubsub_v1

    if not project:
        raise PublishFailed("set GOOGLE_CLOUD_PROJECT: the project of the topic")
    message = {"data": base64.b64encode(json.dumps(body).encode()).decode(), "attributes": {}}
    from_message(message)  # a bad request fails here, before anything is sent
    publisher = pubsub_v1.PublisherClient()
    path = publisher.topic_path(project, topic)
    try:
        message_id = publisher.publish(path, json.dumps(body).encode()).result(timeout=60)
    except Exception as exc:
        raise PublishFailed(f"cannot publish to {path}: {exc}") from exc
    return f"published to {path} as message {message_id}"


def publish_request(base: str, body: dict[str, Any], classifiers: Iterable[str]
                    ) -> Iterator[tuple[str, str]]:  # fmt: skip
    """POST the request to each classifier the stack runs (Vision only with credentials),
    as the CloudEvent a Pub/Sub trigger delivers."""
    message: dict[str, Any] = {
        "data": base64.b64encode(json.dumps(body).encode()).decode(), "attributes": {},
        "messageId": uuid.uuid4().hex,
    }  # fmt: skip
    from_message(message)  # a bad request fails here, before anything is sent
    event = CloudEvent(
        {"type": PUBSUB_PUBLISHED, "id": message["messageId"],
         "source": "//pubsub.googleapis.com/projects/local/topics/classify-requests",
         "datacontenttype": "application/json",
         "time": datetime.now(UTC).isoformat()},
        {"message": message, "subscription": "local"},
    )  # fmt: skip
    headers, data = to_binary(event)
    for name in (f"classify_{c}" for c in classifiers):
        url = f"{base.rstrip('/')}/{name}"
        request = urllib.request.Request(url, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                yield name, f"delivered ({response.status})"
        except urllib.error.HTTPError as exc:
            raise PublishFailed(f"{url} answered {exc.code}: {_said(exc)}") from exc
        except OSError as exc:
            raise PublishFailed(f"cannot reach {url}: is `oie serve` running? ({exc})") from exc


def _said(exc: urllib.error.HTTPError) -> str:
    """The function's own words: its JSON error, else the start of its answer."""
    body = exc.read(64 * 1024).decode("utf-8", errors="replace")
    try:
        error = json.loads(body).get("error")
    except (ValueError, AttributeError):
        error = None
    return str(error) if error else " ".join(body.split())[:300] or exc.reason
