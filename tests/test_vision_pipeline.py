"""Cloud Vision in the functions: label_detection and classify_vision, against the fake
of the Vision REST API through the real client library."""

from __future__ import annotations

import io
from pathlib import Path

import functions_framework
import pytest
from werkzeug.test import Client

from oie.app import current
from tests.conftest import ROOT, fresh_app
from tests.support.vision_fake import VisionFake
from tests.test_pipeline import finalized, rows, send

pytestmark = pytest.mark.vision
CAT = [("/m/01yrx", "Cat", 0.97), ("/m/0jbk", "Animal", 0.91), ("/m/zzzz", "Whisker", 0.6)]


@pytest.fixture
def cat(assets: Path, vision: VisionFake) -> bytes:
    data = (assets / "images" / "cat_720p.jpg").read_bytes()
    vision.set_labels(data, CAT)
    return data


def test_label_detection_page(vision: VisionFake, cat: bytes, host_app) -> None:  # type: ignore[no-untyped-def]
    web = Client(host_app)
    files = {"files": [(io.BytesIO(cat), "cat.jpg"), (io.BytesIO(b"nope"), "x.jpg")]}
    answer = web.post("/label_detection?format=json", data=files).get_json()
    assert answer["model"] == "cloud-vision"
    good, bad = answer["files"]
    assert [(p["label"], p["mid"]) for p in good["predictions"]] == [
        ("Cat", "/m/01yrx"), ("Animal", "/m/0jbk"), ("Whisker", "/m/zzzz")
    ]  # fmt: skip
    assert good["stored"].endswith(".jpg") and not bad["ok"]
    html = web.get("/label_detection").get_data(as_text=True)
    assert 'action="/label_detection"' in html


def test_classify_vision_event_and_results(vision: VisionFake, cat: bytes, host_app) -> None:  # type: ignore[no-untyped-def]
    fn = functions_framework.create_app(
        "classify_vision", str(ROOT / "functions" / "classify_vision" / "main.py"), "cloudevent"
    ).test_client()
    current().blobstore.put("drop/cat.jpg", cat)
    vision.fail_next(100, 503)  # more than the short retry absorbs: the event must be redelivered
    assert send(fn, finalized("drop/cat.jpg")) == 503  # not acknowledged: delivered again
    vision.recover()
    assert current().warehouse.row_count("classifications") in (None, 0)
    assert send(fn, finalized("drop/cat.jpg")) in (200, 204)
    assert send(fn, finalized("drop/cat.jpg")) in (200, 204)
    [row] = rows()
    assert row["classifier"] == "vision" and row["model"] == "cloud-vision"
    assert row["labels"][0] == {"label": "Cat", "score": 0.97, "mid": "/m/01yrx"}
    page = Client(host_app).get("/results?format=json&classifier=vision").get_json()
    labels = page["results"][0]["labels"]
    assert labels[0]["image_search"] == "/image_search?description=Cat"  # by its mid
    assert labels[2]["image_search"] is None  # no such Open Images class here


def test_without_credentials_label_detection_says_how(
    no_adc: Path,
    demo_env: Path,
    host_app,
    assets: Path,  # type: ignore[no-untyped-def]
) -> None:
    fresh_app()
    web = Client(host_app)
    files = {"files": [(io.BytesIO((assets / "images" / "owl.jpg").read_bytes()), "owl.jpg")]}
    response = web.post("/label_detection?format=json", data=files)
    assert response.status_code == 503
    assert "application-default login" in response.get_json()["error"]
    assert current().available_classifiers() == ["tflite"]
    assert web.get("/image_search?description=Cat&format=json").status_code == 200
