"""Launch bqemulator (BigQuery REST emulator) from the main venv for tests.

bqemulator pins an older protobuf than google-cloud-bigquery, so it lives in its
own virtualenv (``.venv-bqemu``, see ``install-bqemulator.sh``) and runs as a
subprocess::

    endpoint, proc = start_bqemulator("oie-test")
    try:
        client = bigquery.Client(
            project="oie-test",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": endpoint},
        )
        ...
    finally:
        stop(proc)

or ``with BQEmulator("oie-test") as endpoint: ...``.

With ``gcs_root`` a load job's ``gs://BUCKET/OBJECT`` source is read from the file
``gcs_root/BUCKET/OBJECT`` (bqemulator's ``gcs_local_root``): point it at the folder of a
fake-gcs-server with a filesystem backend and loads read what the storage client uploaded.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVER_SCRIPT = Path(__file__).with_name("bqemulator_server.py")


def bqemulator_python() -> Path | None:
    """The bqemulator venv's python, or None when the venv is not installed."""
    python = REPO_ROOT / ".venv-bqemu" / "bin" / "python"
    return python if python.exists() else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(log: tempfile._TemporaryFileWrapper[bytes], lines: int = 30) -> str:
    log.flush()
    log.seek(0)
    return "\n".join(log.read().decode(errors="replace").splitlines()[-lines:])


def start_bqemulator(
    project: str = "oie-test", timeout: float = 30.0, gcs_root: Path | None = None
) -> tuple[str, subprocess.Popen[bytes]]:
    """Start an in-memory emulator; return ``(endpoint, process)`` once it answers.

    ``gs://`` URIs resolve under ``gcs_root``; without it a load from ``gs://`` fails.
    """
    python = bqemulator_python()
    if python is None:
        raise RuntimeError("bqemulator venv missing: run tests/support/install-bqemulator.sh")
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    cmd = [str(python), str(SERVER_SCRIPT), "--port", str(port), "--project", project]
    cmd.append("--watch-parent")  # no orphaned server if the test process is killed
    if gcs_root is not None:
        cmd += ["--gcs-root", str(gcs_root)]
    with tempfile.NamedTemporaryFile(prefix="bqemulator-", suffix=".log") as log:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group, killed as a whole by stop()
        )
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"bqemulator exited with code {proc.returncode}; output tail:\n{_tail(log)}"
                )
            try:
                with urllib.request.urlopen(f"{endpoint}/readyz", timeout=1) as resp:
                    if resp.status == 200:
                        return endpoint, proc
            except OSError:
                pass
            if time.monotonic() > deadline:
                stop(proc)
                raise RuntimeError(
                    f"bqemulator not answering on {endpoint} after {timeout:.0f}s; "
                    f"output tail:\n{_tail(log)}"
                )
            time.sleep(0.1)


def stop(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """Terminate the emulator's process group (SIGTERM, then SIGKILL)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        proc.wait()


class BQEmulator:
    """Context manager: ``with BQEmulator("p") as endpoint: ...``."""

    def __init__(
        self, project: str = "oie-test", timeout: float = 30.0, gcs_root: Path | None = None
    ) -> None:
        self.project = project
        self.timeout = timeout
        self.gcs_root = gcs_root
        self.endpoint = ""
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> str:
        self.endpoint, self.proc = start_bqemulator(self.project, self.timeout, self.gcs_root)
        return self.endpoint

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.proc = None


@contextmanager
def with_course_data(project: str, dataset: str, files: Mapping[str, Path]) -> Iterator[str]:
    """bqemulator holding the course CSVs, imported as `oie import` does; yields the endpoint."""
    from oie.dataset.importer import import_files
    from oie.warehouse.bigquery_adapter import BigQueryWarehouse

    with BQEmulator(project) as endpoint:
        reports = import_files(BigQueryWarehouse(project, dataset, endpoint), files)
        assert [r.rows for r in reports][:3] == [601, 4386, 2768], "not the course data"
        yield endpoint
