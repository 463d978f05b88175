"""The production-shaped chain on emulators: an upload through google-cloud-storage to
fake-gcs-server, its OBJECT_FINALIZE notification to the Pub/Sub emulator, a push
subscription to the classify_tflite function, rows in `classifications`."""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from oie.cli import main
from tests.conftest import fresh_app
from tests.support.gcs_emulator import gcs_emulator
from tests.support.pubsub_emulator import pubsub_emulator
from tests.support.servers import batch_of_files, free_port, running
from tests.test_emulators import need_module, need_pubsub_emulator

pytestmark = [pytest.mark.pubsub, pytest.mark.gcs]
PROJECT, TOPIC, BUCKET = "oie-test", "classify-requests", "photos"
OIE = Path(sys.executable).parent / "oie"


@pytest.fixture(scope="module")
def emulators() -> Iterator[tuple[str, str]]:
    for module in ("google.cloud.pubsub_v1", "google.cloud.storage"):
        need_module(module)
    need_pubsub_emulator()
    from google.cloud import pubsub_v1

    with pubsub_emulator(PROJECT) as pubsub, gcs_emulator(pubsub, PROJECT, TOPIC) as gcs:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("PUBSUB_EMULATOR_HOST", pubsub)
            # the topic must exist before the first upload, or its notification is lost
            pubsub_v1.PublisherClient().create_topic(name=f"projects/{PROJECT}/topics/{TOPIC}")
        yield pubsub, gcs


def results(base: str, count: int, timeout: float = 60) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{base}/results?format=json&limit=1000", timeout=10) as r:
                found = json.load(r)["results"]
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"/results answered {exc.code}: {exc.read()[:500]!r}") from exc
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.25)


@contextmanager
def chain(emulators: tuple[str, str], bucket_name: str, monkeypatch: pytest.MonkeyPatch
          ) -> Iterator[tuple[str, Any]]:  # fmt: skip
    """A bucket on fake-gcs-server, a push subscription to classify_tflite, and `oie serve`
    using both; yields the server's base URL and the bucket."""
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import pubsub_v1, storage

    pubsub, gcs = emulators
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"PUBSUB_EMULATOR_HOST": pubsub, "STORAGE_EMULATOR_HOST": gcs,
           "OIE_BUCKET": bucket_name, "GOOGLE_CLOUD_PROJECT": PROJECT}  # fmt: skip
    subscriber = pubsub_v1.SubscriberClient()
    subscriber.create_subscription(
        name=subscriber.subscription_path(PROJECT, f"classify-{bucket_name}"),
        topic=f"projects/{PROJECT}/topics/{TOPIC}",
        push_config=pubsub_v1.types.PushConfig(push_endpoint=f"{base}/classify_tflite"),
    )
    client = storage.Client(project=PROJECT, credentials=AnonymousCredentials(),
                            client_options=ClientOptions(api_endpoint=gcs))  # fmt: skip
    bucket = client.create_bucket(bucket_name)
    with running([str(OIE), "serve", "--no-watch", "--port", str(port)], base + "/", env=env):
        yield base, bucket


def test_upload_ends_as_rows(emulators: tuple[str, str], demo_env: Path, assets: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from google.cloud import pubsub_v1

    with chain(emulators, BUCKET, monkeypatch) as (base, bucket):
        publisher = pubsub_v1.PublisherClient()  # made once the emulator host is set
        topic = publisher.topic_path(PROJECT, TOPIC)
        for name in ("parrot.jpg", "hot_dog.jpg", "owl.jpg"):
            bucket.blob(f"in/{name}").upload_from_filename(str(assets / "images" / name))
        bucket.blob("in/my notes.jpg").upload_from_string(b"not a photo")
        found = results(base, 4)
        # a request for an object already done, published by `oie publish`: no second row
        parrot = found and next(r for r in found if r["object"] == "in/parrot.jpg")
        request = {"uri": f"gs://{BUCKET}/in/parrot.jpg", "generation": parrot["key"].split("#")[1]}
        publisher.publish(topic, json.dumps(request).encode()).result(timeout=30)
        monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", PROJECT)
        fresh_app()
        published = CliRunner().invoke(main, ["publish", "--uri", f"gs://{BUCKET}/in/owl.jpg"])
        assert published.exit_code == 0, published.output
        assert f"published to projects/{PROJECT}/topics/{TOPIC}" in published.output
        time.sleep(2)
        found = results(base, 5, timeout=1)
    by_object = {r["object"]: r for r in found}
    assert sorted(by_object) == ["in/hot_dog.jpg", "in/my notes.jpg", "in/owl.jpg", "in/parrot.jpg"]
    assert len(found) == 4
    assert by_object["in/parrot.jpg"]["labels"][0]["label"] == "macaw"
    assert by_object["in/parrot.jpg"]["source_uri"] == f"gs://{BUCKET}/in/parrot.jpg"
    assert by_object["in/my notes.jpg"]["status"] == "rejected"


def test_two_hundred_uploads(emulators: tuple[str, str], demo_env: Path, assets: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    files = batch_of_files(sorted((assets / "images").iterdir()))
    with chain(emulators, "batch", monkeypatch) as (base, bucket):
        for name, data in files.items():
            bucket.blob(name).upload_from_string(data)
        found = [
            r for r in results(base, 200, timeout=120) if r["source_uri"].startswith("gs://batch/")
        ]
    assert len(found) == 200
    status = {r["object"]: r["status"] for r in found}
    assert status == {n: "rejected" if n.startswith("junk") else "ok" for n in files}
