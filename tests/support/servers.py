"""Start and stop real server processes for tests: free ports, readiness, process groups."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {url}")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except urllib.error.HTTPError:
            return  # it answers, even if with an error status
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing answered at {url} within {timeout} s")


@contextmanager
def running(
    cmd: Sequence[str],
    ready_url: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Iterator[subprocess.Popen]:
    """Run `cmd` in its own process group until the block ends; its output goes to a file
    (a pipe nobody reads would block a chatty server)."""
    log = tempfile.TemporaryFile()  # noqa: SIM115
    proc = subprocess.Popen(
        list(cmd), env={**os.environ, **(env or {})}, cwd=cwd, stdout=log, stderr=log,
        start_new_session=True,
    )  # fmt: skip
    try:
        try:
            wait_http(ready_url, proc=proc)
        except (RuntimeError, TimeoutError) as exc:
            os.killpg(proc.pid, signal.SIGKILL)
            log.seek(0)
            said = log.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"{exc}\n{' '.join(cmd)} said:\n{said}") from exc
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


@contextmanager
def serving_folder(root: Path) -> Iterator[str]:
    """A static HTTP server for `root` on a free loopback port; yields its base URL."""
    import http.server
    import threading

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def batch_of_files(photos: list[Path], total: int = 200, junk: int = 20, copies: int = 20
                   ) -> dict[str, bytes]:  # fmt: skip
    """`total` files by name: unique photos (bytes after the image make each distinct),
    `junk` text files named .jpg, and `copies` byte-for-byte copies of photos."""
    files: dict[str, bytes] = {}
    unique = total - junk - copies
    for i in range(unique):
        src = photos[i % len(photos)]
        files[f"photo-{i:03d}{src.suffix}"] = src.read_bytes() + f"\n{i}".encode()
    names = list(files)
    for i in range(copies):
        files[f"copy-{i:03d}{Path(names[i]).suffix}"] = files[names[i]]
    for i in range(junk):
        files[f"junk-{i:03d}.jpg"] = f"not an image {i}\n".encode()
    return files
