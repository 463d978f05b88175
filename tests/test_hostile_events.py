"""Hostile events through the real CloudEvent functions: every permanent problem is answered
once (2xx, so the platform stops delivering it) with one "event dropped" log line that says
why, and a good event after them still yields exactly one row."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import functions_framework
import pytest
from cloudevents.conversion import to_binary, to_structured
from cloudevents.http import CloudEvent
from werkzeug.test import Client

from oie.app import current
from oie.pipeline.events import PUBSUB_PUBLISHED, STORAGE_FINALIZED
from tests.conftest import ROOT
from tests.support.vision_fake import VisionFake
from tests.test_pipeline import BUCKET, rows

FUNCTIONS = ("classify_tflite", "classify_vision")
ARABIC_DIGITS = "".join(map(chr, range(0x660, 0x66A)))  # str.isdigit() and int() take them
SOURCE = "//storage.googleapis.com/projects/_/buckets/" + BUCKET


def ce(kind: str, data: Any, **attributes: str) -> CloudEvent:
    now = datetime.now(UTC).isoformat()
    return CloudEvent({"type": kind, "source": SOURCE, "id": "bad", "time": now, **attributes},
                      data)  # fmt: skip


def storage(**data: Any) -> CloudEvent:
    return ce(STORAGE_FINALIZED, {"bucket": BUCKET, "name": "drop/x.jpg", "generation": "1",
                                  "size": "10", **data})  # fmt: skip


def message(value: Any) -> CloudEvent:
    return ce(PUBSUB_PUBLISHED, {"message": value, "subscription": "s"})


def request(body: Any) -> CloudEvent:
    """A request message whose data is `body`: JSON unless it is bytes already."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return message({"data": base64.b64encode(raw).decode(), "messageId": "m"})


def notification(**attributes: Any) -> CloudEvent:
    attrs = {"eventType": "OBJECT_FINALIZE", "bucketId": BUCKET, "objectId": "drop/x.jpg",
             "objectGeneration": "1", "payloadFormat": "JSON_API_V1", **attributes}  # fmt: skip
    return message({"data": "", "attributes": attrs, "messageId": "m"})


HOSTILE: dict[str, CloudEvent] = {
    # object names, by Cloud Storage's rules or the folder's
    "name ../x": storage(name="../x"),
    "name ../../etc/passwd": storage(name="../../etc/passwd"),
    "name a/../../x": storage(name="a/../../x.jpg"),
    "name absolute": storage(name="/etc/passwd"),
    "name a folder": storage(name="photos/"),
    "name a nested folder": storage(name="drop/photo.jpg/"),
    "name with NUL": storage(name="a\x00b.jpg"),
    "name .": storage(name="."),
    "name ..": storage(name=".."),
    "name with LF": storage(name="a\nb.jpg"),
    "name with CR": storage(name="a\rb.jpg"),
    "name of 1025 bytes": storage(name="x" * 1025),
    "name of 1026 UTF-8 bytes": storage(name="é" * 513),
    "name too long for a file": storage(name="a" * 300 + ".jpg"),
    "name a lone surrogate": storage(name="\ud800.jpg"),
    "name reserved": storage(name=".well-known/acme-challenge/x"),
    "name empty": storage(name=""),
    "name a number": storage(name=5),
    "name a list": storage(name=["a.jpg"]),
    "name missing": ce(STORAGE_FINALIZED, {"bucket": BUCKET, "generation": "1"}),
    "bucket missing": ce(STORAGE_FINALIZED, {"name": "drop/x.jpg", "generation": "1"}),
    "bucket a number": storage(bucket=7),
    "bucket not a bucket name": storage(bucket="a/b\n"),
    "generation letters": storage(generation="abc"),
    "generation negative": storage(generation="-1"),
    "generation zero": storage(generation="0"),
    "generation an object": storage(generation={"n": 1}),
    "generation a float": storage(generation=1.5),
    "generation past int64": storage(generation="9" * 19),
    "storage data a string": ce(STORAGE_FINALIZED, "hello"),
    "storage data a list": ce(STORAGE_FINALIZED, [1, 2]),
    "storage data a number": ce(STORAGE_FINALIZED, 5),
    "storage data none": ce(STORAGE_FINALIZED, None),
    # Pub/Sub messages
    "message a string": message("hello"),
    "message a list": message(["a", "b"]),
    "message a number": message(5),
    "message missing": ce(PUBSUB_PUBLISHED, {"subscription": "s"}),
    "pubsub data a string": ce(PUBSUB_PUBLISHED, "hello"),
    "message.data a number": message({"data": 5}),
    "message.data a list": message({"data": ["eyJ9"]}),
    "message.data not base64": message({"data": "!!!"}),
    "message.data not UTF-8": request(b"\xff\xfe{}"),
    "message.data nested deep": request(b"[" * 100_000),
    "message.attributes a list": message({"data": "", "attributes": ["eventType"]}),
    "request a JSON string": request("hello"),
    "request uri a number": request({"uri": 5}),
    "request uri no object": request({"uri": f"gs://{BUCKET}/"}),
    "request uri ../x": request({"uri": f"gs://{BUCKET}/../x"}),
    "request uri a folder": request({"uri": f"gs://{BUCKET}/photos/"}),
    "request uri with LF": request({"uri": f"gs://{BUCKET}/a.jpg\n"}),
    "request generation letters": request({"uri": f"gs://{BUCKET}/a.jpg", "generation": "x"}),
    "image_id with a trailing newline": request({"image_id": "0123456789abcdef\n"}),
    "image_id a number": request({"image_id": 1234567890123456}),
    "image_id a list": request({"image_id": ["0123456789abcdef"]}),
    "image_id unicode digits": request({"image_id": ARABIC_DIGITS + "abcdef"}),
    "notification name ../x": notification(objectId="../x"),
    "notification name missing": notification(objectId=None),
    "notification generation NaN": notification(objectGeneration="NaN"),
    # the event's own attributes
    "time without a zone": ce(STORAGE_FINALIZED, {"bucket": BUCKET, "name": "drop/x.jpg"},
                              time="2024-05-01T10:00:00"),
    "time not a time": ce(STORAGE_FINALIZED, {"bucket": BUCKET, "name": "x.jpg"}, time="yesterday"),
    "time before year 1 in UTC": ce(STORAGE_FINALIZED, {"bucket": BUCKET, "name": "x.jpg"},
                                    time="0001-01-01T00:00:00+14:00"),
    "type not handled": ce("google.cloud.storage.object.v1.deleted", {"bucket": BUCKET,
                                                                      "name": "x.jpg"}),
}  # fmt: skip


@pytest.fixture
def functions(demo_env: Path) -> dict[str, Client]:
    current().settings.bucket_folder.mkdir(parents=True)  # as `oie serve` has it
    return {
        name: functions_framework.create_app(
            name, str(ROOT / "functions" / name / "main.py"), "cloudevent"
        ).test_client()
        for name in FUNCTIONS
    }


def post(client: Client, event: CloudEvent, binary: bool) -> int:
    headers, body = to_binary(event) if binary else to_structured(event)
    return client.post("/", headers=headers, data=body).status_code


def drops(text: str) -> list[dict[str, Any]]:
    """The "event dropped" lines of the log."""
    found = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and str(record.get("message", "")).startswith("event dropped"):
            found.append(record)
    return found


@pytest.mark.parametrize("binary", [False, True], ids=["structured", "binary"])
@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_bad_event_is_acknowledged_with_one_logged_drop(
    name: str, binary: bool, functions: dict[str, Client], capfd: pytest.CaptureFixture[str]
) -> None:
    for target, client in functions.items():
        capfd.readouterr()
        assert post(client, HOSTILE[name], binary) in (200, 204), target
        [drop] = drops(capfd.readouterr().err)
        assert drop["message"] == f"event dropped: {drop['reason']}" and drop["reason"]
        assert drop["event_id"] == "bad" and drop["classifier"] == target.removeprefix("classify_")
        assert drop["severity"] == "WARNING" and 400 <= drop["status"] < 500
    assert current().warehouse.row_count("classifications") in (None, 0)


def test_the_reasons_say_what_is_wrong(
    functions: dict[str, Client], capfd: pytest.CaptureFixture[str]
) -> None:
    expected = {
        "name ../x": "leads out of the bucket folder",
        "name a folder": "is a folder placeholder, not an image",
        "name with NUL": "is not a file in the bucket folder",
        "name of 1025 bytes": "Cloud Storage allows 1,024",
        "message a string": "message is a str, not a JSON object",
        "message.data a number": "message data is a int, not base64 text",
        "image_id with a trailing newline": "is not 16 hexadecimal digits",
        "time without a zone": "is not an RFC 3339 time with a zone",
        "generation letters": "is not a positive integer",
    }
    client = functions["classify_tflite"]
    for name, words in expected.items():
        capfd.readouterr()
        assert post(client, HOSTILE[name], binary=False) in (200, 204)
        [drop] = drops(capfd.readouterr().err)
        assert words in drop["reason"], (name, drop)


@pytest.mark.vision
def test_a_good_event_after_them_yields_one_row_each(
    vision: VisionFake, functions: dict[str, Client], assets: Path
) -> None:
    data = (assets / "images" / "parrot.jpg").read_bytes()
    vision.set_labels(data, [("/m/0gv1x", "Parrot", 0.95)])
    stored = current().blobstore.put("drop/parrot.jpg", data)
    good = ce(STORAGE_FINALIZED, {"bucket": BUCKET, "name": stored.name,
                                  "generation": stored.generation}, id="good")  # fmt: skip
    for client in functions.values():
        for event in HOSTILE.values():
            assert post(client, event, binary=False) in (200, 204)
        for binary in (False, True, False):
            assert post(client, good, binary) in (200, 204)
    got = [(r["request_key"], r["classifier"], r["status"], r["event_id"]) for r in rows()]
    key = f"{BUCKET}/drop/parrot.jpg#{stored.generation}"
    assert sorted(got) == [(key, "tflite", "ok", "good"), (key, "vision", "ok", "good")]


def test_a_superseded_or_forged_generation_is_dropped_without_a_row(
    functions: dict[str, Client], assets: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    store = current().blobstore
    stored = store.put("drop/owl.jpg", (assets / "images" / "owl.jpg").read_bytes())
    client = functions["classify_tflite"]
    for forged in (str(int(stored.generation) - 1), "1", "0" + stored.generation):
        capfd.readouterr()
        event = ce(STORAGE_FINALIZED, {"bucket": BUCKET, "name": stored.name,
                                       "generation": forged})  # fmt: skip
        assert post(client, event, binary=False) in (200, 204)
        dropped = drops(capfd.readouterr().err)
        if forged.startswith("0"):  # one spelling of the current generation: the same key
            assert dropped == []
        else:
            [drop] = dropped
            assert "at another generation" in drop["reason"] and drop["status"] == 412
    current_one = ce(STORAGE_FINALIZED, {"bucket": BUCKET, "name": stored.name,
                                         "generation": stored.generation})  # fmt: skip
    assert post(client, current_one, binary=True) in (200, 204)
    [row] = rows()
    assert row["request_key"] == f"{BUCKET}/drop/owl.jpg#{stored.generation}"
    assert row["status"] == "ok"


def test_an_object_gone_entirely_is_a_rejected_row(functions: dict[str, Client]) -> None:
    event = ce(STORAGE_FINALIZED, {"bucket": BUCKET, "name": "drop/never.jpg", "generation": "5"})
    assert post(functions["classify_tflite"], event, binary=False) in (200, 204)
    [row] = rows()
    assert row["status"] == "rejected" and "no longer exists" in row["error"]


def test_an_object_over_the_byte_limit_is_a_rejected_row(functions: dict[str, Client]) -> None:
    from oie.classify import images

    store = current().blobstore
    stored = store.put("drop/big.jpg", b"\xff\xd8" + b"\0" * (images.MAX_BYTES + 10))
    event = ce(STORAGE_FINALIZED, {"bucket": BUCKET, "name": stored.name,
                                   "generation": stored.generation})  # fmt: skip
    assert post(functions["classify_tflite"], event, binary=False) in (200, 204)
    [row] = rows()
    assert row["status"] == "rejected"
    assert f"the limit is {images.MAX_BYTES:,} bytes" in row["error"]
