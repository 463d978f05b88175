"""The Cloud Vision labeler through the real google-cloud-vision client (REST) and a fake."""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("google.cloud.vision")

from google.api_core import exceptions as core
from PIL import Image

from oie.classify import vision
from oie.classify.classifier import Prediction
from oie.classify.images import RejectedImage
from oie.classify.vision import VisionLabel, VisionLabeler, VisionUnavailable
from oie.errors import Unavailable
from tests.support.servers import free_port
from tests.support.vision_fake import VisionFake, vision_fake

pytestmark = pytest.mark.vision
CAT = [
    ("/m/068jd", "Photograph", 0.2),  # deliberately out of order: the API answers best first
    ("/m/01yrx", "Cat", 0.98),
    ("/m/01l7qd", "Whiskers", 0.93),
    ("/m/0307l", "Felidae", 0.9),
    ("/m/01lrl", "Carnivore", 0.85),
    ("/m/07k6w8", "Small to medium-sized cats", 0.6),
]


@pytest.fixture
def fake() -> Iterator[VisionFake]:
    with vision_fake() as server:
        yield server


@pytest.fixture
def photos(assets: Path) -> list[Path]:
    found = sorted((assets / "images").iterdir())
    assert len(found) >= 5
    return found


@pytest.fixture
def cat(assets: Path) -> bytes:
    return (assets / "images" / "cat_720p.jpg").read_bytes()


def sent_features(fake: VisionFake) -> list[dict]:
    return fake.requests[-1]["requests"][0]["features"]


def test_labels_for_real_photos(fake: VisionFake, photos: list[Path]) -> None:
    labeler = VisionLabeler(fake.endpoint)
    assert labeler.model == "cloud-vision"
    assert labeler.endpoint == fake.endpoint
    for path in photos:
        labels = labeler.classify(path.read_bytes())
        assert labels, path.name
        for label in labels:
            assert isinstance(label, VisionLabel) and isinstance(label, Prediction)
            assert label.mid.startswith("/m/") and label.label
            assert 0.25 <= label.score <= 1 and 0 < label.topicality <= 1
        scores = [label.score for label in labels]
        assert scores == sorted(scores, reverse=True)
        # deterministic: the same bytes give the same labels
        assert labeler.classify(path.read_bytes()) == labels
    assert fake.calls == 2 * len(photos)
    # what went over the wire: the real REST shape (the client sends enums as numbers)
    body = fake.requests[-1]["requests"][0]
    assert set(body["image"]) == {"content"}
    assert sent_features(fake) == [{"type": 4, "maxResults": vision.MAX_RESULTS}]


def test_programmed_answer_with_mids(fake: VisionFake, cat: bytes) -> None:
    fake.set_labels(cat, CAT)
    labels = VisionLabeler(fake.endpoint).classify(cat, min_confidence=0.0)
    assert [(p.mid, p.label) for p in labels] == [
        ("/m/01yrx", "Cat"),
        ("/m/01l7qd", "Whiskers"),
        ("/m/0307l", "Felidae"),
        ("/m/01lrl", "Carnivore"),
        ("/m/07k6w8", "Small to medium-sized cats"),
        ("/m/068jd", "Photograph"),
    ]
    assert labels[0] == VisionLabel("Cat", 0.98, "/m/01yrx", 0.98)  # float32 scores rounded


def test_min_confidence_and_top_k_like_tflite(fake: VisionFake, cat: bytes) -> None:
    fake.set_labels(cat, CAT)
    labeler = VisionLabeler(fake.endpoint)
    assert [p.label for p in labeler.classify(cat)] == [
        "Cat", "Whiskers", "Felidae", "Carnivore", "Small to medium-sized cats",
    ]  # fmt: skip
    assert [p.label for p in labeler.classify(cat, min_confidence=0.9)] == [
        "Cat", "Whiskers", "Felidae",
    ]  # fmt: skip
    assert labeler.classify(cat, min_confidence=0.99) == ()
    top2 = labeler.classify(cat, top_k=2)
    assert [p.label for p in top2] == ["Cat", "Whiskers"]
    assert sent_features(fake) == [{"type": 4, "maxResults": 2}]  # top_k asks the API for less
    assert [p.label for p in labeler.classify(cat, min_confidence=0.95, top_k=3)] == ["Cat"]
    assert len(labeler.classify(cat, min_confidence=0.0, top_k=0)) == len(CAT)  # 0 = all


def test_bad_image_data_is_rejected_with_the_apis_message(fake: VisionFake, cat: bytes) -> None:
    truncated = cat[: len(cat) // 2]  # the header passes the local sniff; the body does not
    with pytest.raises(RejectedImage, match=r"^Bad image data\.$"):
        VisionLabeler(fake.endpoint).classify(truncated)
    assert fake.calls == 1
    outcome = VisionLabeler(fake.endpoint).outcome("half.jpg", truncated)
    assert not outcome.ok and outcome.error == "Bad image data."


def test_per_image_errors(fake: VisionFake, cat: bytes) -> None:
    fake.set_error(cat, 3, "Image processing error!")
    with pytest.raises(RejectedImage, match="Image processing error!"):
        VisionLabeler(fake.endpoint).classify(cat)
    fake.set_error(cat, 13, "Internal error.")
    with pytest.raises(VisionUnavailable, match="Internal error") as info:
        VisionLabeler(fake.endpoint).classify(cat)
    assert info.value.transient


def test_non_images_are_rejected_locally(fake: VisionFake, tmp_path: Path) -> None:
    labeler = VisionLabeler(fake.endpoint)
    text = b"label,score\ncat,0.9\n" * 10
    with pytest.raises(RejectedImage, match="not an image"):
        labeler.classify(text)
    with pytest.raises(RejectedImage, match="empty"):
        labeler.classify(b"")
    ppm = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(ppm, "PPM")  # Pillow reads it; Vision not
    with pytest.raises(RejectedImage, match="does not accept PPM"):
        labeler.classify(ppm.getvalue())
    assert labeler.outcome("notes.txt", text).error == "not an image Pillow can read"
    assert fake.calls == 0


def test_large_files_are_sent_downscaled(fake: VisionFake, assets: Path) -> None:
    data = (assets / "images" / "grace_hopper.bmp").read_bytes()
    labeler = VisionLabeler(fake.endpoint, max_upload_bytes=len(data) - 1)
    assert labeler.classify(data)
    sent = base64.b64decode(fake.requests[-1]["requests"][0]["image"]["content"])
    assert Image.open(io.BytesIO(sent)).format == "JPEG" and len(sent) < len(data)


def test_json_size_limit_is_respected(fake: VisionFake) -> None:
    bmp = io.BytesIO()
    Image.new("RGB", (2000, 1400), (20, 120, 40)).save(bmp, "BMP")
    data = bmp.getvalue()  # 8.4 MB: 11.2 MB as base64 JSON, over the API's 10 MB
    assert vision.MAX_UPLOAD_BYTES < len(data) < 10 * 1024 * 1024
    assert VisionLabeler(fake.endpoint).classify(data)  # sent downscaled
    with pytest.raises(RejectedImage, match=r"^Request payload size exceeds the limit"):
        VisionLabeler(fake.endpoint, max_upload_bytes=len(data)).classify(
            data
        )  # sent as is: HTTP 400
    assert fake.calls == 2


def test_503_raises_unavailable_without_retry(fake: VisionFake, cat: bytes) -> None:
    fake.fail_next(1, 503)
    start = time.monotonic()
    with pytest.raises(VisionUnavailable) as info:
        VisionLabeler(fake.endpoint, retry=None).classify(cat)
    assert time.monotonic() - start < 2
    assert isinstance(info.value, Unavailable) and info.value.transient
    assert isinstance(info.value.__cause__, core.ServiceUnavailable)  # the client's exception
    assert fake.calls == 1


def test_default_retry_is_short_and_recovers(fake: VisionFake, cat: bytes) -> None:
    fake.fail_next(2, 503)
    start = time.monotonic()
    assert VisionLabeler(fake.endpoint).classify(cat)
    assert fake.calls == 3
    assert time.monotonic() - start < 5


def test_quota_429_is_transient_and_not_retried_in_process(fake: VisionFake, cat: bytes) -> None:
    fake.fail_next(1, 429)
    with pytest.raises(VisionUnavailable, match="Quota exceeded") as info:
        VisionLabeler(fake.endpoint).classify(cat)
    assert info.value.transient and isinstance(info.value.__cause__, core.TooManyRequests)
    assert fake.calls == 1


def test_timeout_and_unreachable_are_transient(fake: VisionFake, cat: bytes) -> None:
    fake.delay_next(1, 2.0)
    start = time.monotonic()
    with pytest.raises(VisionUnavailable, match="timed out") as info:
        VisionLabeler(fake.endpoint, retry=None, timeout=0.5).classify(cat)
    assert info.value.transient and time.monotonic() - start < 2
    nobody = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(VisionUnavailable, match="cannot reach") as info:
        VisionLabeler(endpoint=nobody, retry=None).classify(cat)
    assert info.value.transient


def test_one_client_per_process(
    fake: VisionFake, cat: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    from google.cloud import vision as gcv

    made = []
    real = gcv.ImageAnnotatorClient

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        made.append(kwargs)
        time.sleep(0.05)  # widen the race window
        return real(*args, **kwargs)

    monkeypatch.setattr(gcv, "ImageAnnotatorClient", counting)
    errors: list[BaseException] = []
    labeler = VisionLabeler(fake.endpoint)  # the app makes one per process

    def work() -> None:
        try:
            assert labeler.classify(cat)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(made) == 1 and fake.calls == 8
    assert made[0]["transport"] == "rest"
    assert labeler.client() is labeler.client()


def test_no_credentials_answers_offline(no_adc: Path, cat: bytes) -> None:
    start = time.monotonic()
    assert vision.credentials_available() is False
    labeler = VisionLabeler()
    assert labeler.endpoint == "" and not labeler.credentials_available()
    with pytest.raises(VisionUnavailable, match="needs Google credentials") as info:
        labeler.classify(cat)
    assert not info.value.transient
    assert time.monotonic() - start < 2
    # a local endpoint needs no credentials
    assert vision.credentials_available("http://127.0.0.1:9999")


def test_application_default_credentials_are_found(
    no_adc: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from google.auth import _cloud_sdk

    # What `gcloud auth application-default login` + `set-quota-project` write; loading it
    # needs no network. google.auth would also run `gcloud config config-helper` for the
    # project id (a subprocess, ~1 s): not needed to know that credentials exist.
    monkeypatch.setattr(_cloud_sdk, "get_project_id", lambda: None)
    adc = {
        "type": "authorized_user",
        "client_id": "id.apps.googleusercontent.com",
        "client_secret": "secret",
        "refresh_token": "token",
        "quota_project_id": "demo",
    }
    (no_adc / "application_default_credentials.json").write_text(json.dumps(adc))
    assert vision.credentials_available() is True
    assert VisionLabeler().credentials_available()


def test_module_imports_without_google_cloud_vision() -> None:
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['google.cloud.vision'] = None\n"
        "import oie.classify.vision as v\n"
        "print(v.VisionLabeler(endpoint='').model)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "cloud-vision"
