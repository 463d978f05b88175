"""The classifier functions: storage and Pub/Sub events in, one row per key out."""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import functions_framework
import pytest
from cloudevents.conversion import to_binary, to_structured
from cloudevents.http import CloudEvent
from werkzeug.test import Client

from oie.app import current
from oie.pipeline.events import PUBSUB_PUBLISHED, STORAGE_FINALIZED
from oie.warehouse import WarehouseError
from tests.conftest import ROOT, fresh_app
from tests.support.servers import serving_folder

BUCKET = "local-bucket"


@pytest.fixture
def fn(demo_env: Path) -> Client:
    app = functions_framework.create_app(
        "classify_tflite", str(ROOT / "functions" / "classify_tflite" / "main.py"), "cloudevent"
    )
    return app.test_client()


def event(kind: str, data: dict[str, Any], event_id: str = "e-1", age: timedelta = timedelta(0)
          ) -> CloudEvent:  # fmt: skip
    when = (datetime.now(UTC) - age).isoformat()
    source = "//storage.googleapis.com/projects/_/buckets/" + BUCKET
    return CloudEvent({"type": kind, "source": source, "id": event_id, "time": when}, data)


def finalized(name: str, generation: str | None = None, **kw: Any) -> CloudEvent:
    """A finalize event of `name`, at its current generation unless one is given."""
    if generation is None:
        found = current().blobstore.stat(name)
        generation = found.generation if found else "1"
    return event(STORAGE_FINALIZED, {"bucket": BUCKET, "name": name, "generation": generation,
                                     "contentType": "image/jpeg", "size": "10"}, **kw)  # fmt: skip


def published(data: bytes = b"", attributes: dict[str, str] | None = None, **kw: Any) -> CloudEvent:
    message = {"data": base64.b64encode(data).decode(), "attributes": attributes or {},
               "messageId": "m-1"}  # fmt: skip
    return event(PUBSUB_PUBLISHED, {"message": message, "subscription": "s"}, **kw)


def send(client: Client, ce: CloudEvent, binary: bool = False) -> int:
    headers, body = to_binary(ce) if binary else to_structured(ce)
    return client.post("/", headers=headers, data=body).status_code


def rows() -> list[dict[str, Any]]:
    return current().warehouse.query(
        "SELECT * FROM classifications ORDER BY request_key, classified_at"
    )


@pytest.fixture
def photo(assets: Path) -> Iterator[str]:
    data = (assets / "images" / "parrot.jpg").read_bytes()
    current().blobstore.put("drop/parrot one.jpg", data)
    yield "drop/parrot one.jpg"


def test_storage_event_appends_one_row(fn: Client, photo: str) -> None:
    for binary in (False, True, False, True, False):  # delivered five times
        assert send(fn, finalized(photo), binary) in (200, 204)
    [row] = rows()
    assert row["status"] == "ok" and row["error"] is None
    assert row["request_key"] == f"{BUCKET}/{photo}#{current().blobstore.stat(photo).generation}"
    assert row["source_uri"] == f"gs://{BUCKET}/{photo}"
    assert row["classifier"] == "tflite" and row["model"] == "mobilenet_v2_1.0_224_quant"
    assert row["labels"][0]["label"] == "macaw" and row["labels"][0]["score"] > 0.9
    assert row["event_id"] == "e-1" and row["latency_ms"] > 0


def test_pubsub_notification_and_request_share_the_key(fn: Client, photo: str) -> None:
    gen = current().blobstore.stat(photo).generation
    notification = {"eventType": "OBJECT_FINALIZE", "bucketId": BUCKET, "objectId": photo,
                    "objectGeneration": gen, "payloadFormat": "JSON_API_V1"}  # fmt: skip
    assert send(fn, published(b"{}", notification, event_id="n")) in (200, 204)
    request = json.dumps({"uri": f"gs://{BUCKET}/{photo}", "generation": gen}).encode()
    assert send(fn, published(request, event_id="r")) in (200, 204)
    assert [(r["request_key"], r["event_id"]) for r in rows()] == [(f"{BUCKET}/{photo}#{gen}", "n")]


def test_not_an_image_is_a_rejected_row(fn: Client) -> None:
    current().blobstore.put("drop/notes.jpg", b"shopping list\n")
    assert send(fn, finalized("drop/notes.jpg")) in (200, 204)
    assert send(fn, finalized("drop/gone.jpg", "3")) in (200, 204)
    got = {r["object"]: (r["status"], r["error"], r["labels"]) for r in rows()}
    assert got["drop/notes.jpg"] == ("rejected", "not an image Pillow can read", [])
    assert got["drop/gone.jpg"][0] == "rejected" and "no longer exists" in got["drop/gone.jpg"][1]


@pytest.mark.parametrize(
    "ce",
    [
        published(b"not json"),
        published(b'{"uri": "http://example.com/x.jpg"}'),
        published(b'{"image_id": "nope"}'),
        published(b"[1, 2]"),
        published(b"{}", {"eventType": "OBJECT_DELETE", "bucketId": BUCKET, "objectId": "x"}),
        event("google.cloud.storage.object.v1.deleted", {"bucket": BUCKET, "name": "x"}),
        finalized("drop/old.jpg", "1", age=timedelta(days=2)),
    ],
)
def test_bad_and_stale_events_are_acknowledged_without_rows(fn: Client, ce: CloudEvent) -> None:
    assert send(fn, ce) in (200, 204)
    assert current().warehouse.row_count("classifications") in (None, 0)


def test_open_images_id_request(fn: Client, assets: Path, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    served = tmp_path / "photos"
    served.mkdir()
    shutil.copy(assets / "images" / "hot_dog.jpg", served / "1170c58625bec5dc.jpg")
    with serving_folder(served) as base:
        monkeypatch.setenv("OIE_IMAGE_URL_TEMPLATE", base + "{image_id}.jpg")
        fresh_app()
        body = json.dumps({"image_id": "1170C58625BEC5DC"}).encode()
        assert send(fn, published(body)) in (200, 204)
        missing = json.dumps({"image_id": "0000000000000001"}).encode()
        assert send(fn, published(missing, event_id="e-2")) in (200, 204)
    got = {r["request_key"]: r for r in rows()}
    assert "hotdog" in got["1170c58625bec5dc"]["labels"][0]["label"]
    assert got["1170c58625bec5dc"]["source_uri"] == "openimages:1170c58625bec5dc"
    assert got["0000000000000001"]["status"] == "rejected"


def test_transient_failure_raises_for_a_retry(fn: Client, photo: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    runner = current().runner("tflite")

    def down(*args: object) -> None:
        raise WarehouseError("warehouse unreachable")

    with monkeypatch.context() as patch:
        patch.setattr(runner.warehouse, "append", down)
        headers, body = to_structured(finalized(photo))
        failed = fn.post("/", headers=headers, data=body)
        # not acknowledged, so delivered again; the answer says why, as a page would
        assert failed.status_code == 503
        assert failed.get_json() == {
            "ok": False,
            "status": 503,
            "error": "Not available: warehouse unreachable",
        }
    assert send(fn, finalized(photo)) in (200, 204)  # the redelivery succeeds
    assert len(rows()) == 1


def test_results_page(fn: Client, host_app, assets: Path) -> None:  # type: ignore[no-untyped-def]
    web = Client(host_app)
    empty = web.get("/results?format=json")
    assert empty.status_code == 200 and empty.get_json()["results"] == []
    store = current().blobstore
    for name in ("parrot.jpg", "hot_dog.jpg", "owl.jpg"):
        store.put(f"drop/{name}", (assets / "images" / name).read_bytes())
        assert send(fn, finalized(f"drop/{name}", event_id=name)) in (200, 204)
    store.put("other/notes.jpg", b"text")
    assert send(fn, finalized("other/notes.jpg")) in (200, 204)

    def get(query: str, status: int = 200) -> dict[str, Any]:
        response = web.get(f"/results?format=json&{query}")
        assert response.status_code == status, response.get_data(as_text=True)
        return response.get_json()

    assert get("")["count"] == 4
    assert [r["object"] for r in get("label=MACAW")["results"]] == ["drop/parrot.jpg"]
    assert [r["object"] for r in get("label=hot&min_score=0.5")["results"]] == ["drop/hot_dog.jpg"]
    assert get("label=macaw&min_score=1")["results"] == []
    assert {r["object"] for r in get("prefix=drop/")["results"]} == {
        "drop/parrot.jpg", "drop/hot_dog.jpg", "drop/owl.jpg"
    }  # fmt: skip
    [bad] = get("status=rejected")["results"]
    assert bad["object"] == "other/notes.jpg" and "not an image" in bad["error"]
    assert get("classifier=vision")["results"] == []
    assert get("until=2000-01-01")["results"] == []
    page1 = get("limit=3")
    page2 = web.get(page1["next"] + "&format=json").get_json()
    assert len(page1["results"]) == 3 and len(page2["results"]) == 1
    parrot = f"key={BUCKET}/drop/parrot.jpg%23{store.stat('drop/parrot.jpg').generation}"
    one = get(parrot)
    assert [r["classifier"] for r in one["results"]] == ["tflite"]
    assert one["image"].startswith("data:image/jpeg;base64,")
    html = web.get(f"/results?{parrot}").get_data(as_text=True)
    assert "macaw" in html and "data:image/jpeg;base64," in html
    for query, param in [("classifier=x", "classifier"), ("since=yesterday", "since"),
                         ("min_score=2", "min_score"), ("limit=0", "limit")]:  # fmt: skip
        assert get(query, 400)["param"] == param


def test_request_without_generation_means_the_current_one(fn: Client, photo: str) -> None:
    generation = current().blobstore.stat(photo).generation
    request = json.dumps({"uri": f"gs://{BUCKET}/{photo}"}).encode()
    assert send(fn, published(request, event_id="r")) in (200, 204)
    assert send(fn, finalized(photo, generation, event_id="f")) in (200, 204)
    assert [r["request_key"] for r in rows()] == [f"{BUCKET}/{photo}#{generation}"]
