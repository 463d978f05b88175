"""Launch the gcloud Pub/Sub emulator (Java) for tests.

::

    with pubsub_emulator() as host:              # "127.0.0.1:PORT"
        monkeypatch.setenv("PUBSUB_EMULATOR_HOST", host)
        publisher = pubsub_v1.PublisherClient()  # insecure channel to the emulator
        ...

The emulator runs ``gcloud beta emulators pubsub start`` in its own session and process
group (gcloud's Python wrapper plus its Java child) on a free loopback port, with a private
``--data-dir`` (gcloud only writes ``env.yaml`` there, but the default,
``~/.config/gcloud/emulators/pubsub``, is shared by every run on the machine). It is ready
in about 1.2-1.6 s and stops in about 0.4 s. At exit the Java child is stopped first, then
the group; a watchdog sidecar ends the group if the test process dies without cleaning up
(SIGKILL), so no Java process is left behind. All state is in memory and dies with the
process. The emulator accepts any project id; ``project`` is passed to gcloud only.

Seen with emulator 0.8.20 (gcloud 528): push bodies are ``{"message": {"data", "attributes",
"messageId", "message_id", "publishTime", "publish_time"}, "subscription"}``, sent without
an auth token; a non-2xx answer is redelivered about every second, without backoff.

:func:`launched` is the generic part (process group, watchdog, log file, readiness, stop),
shared with :mod:`tests.support.gcs_emulator`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from http.client import HTTPException
from pathlib import Path
from typing import TypeVar

from tests.support.servers import free_port

T = TypeVar("T")


class PortTaken(RuntimeError):
    """The server could not bind its port (someone took it after free_port() chose it)."""


# A sidecar in a session of its own: when the test process that started it is gone (the
# sidecar is re-parented), it ends the emulator's process group and removes its work folder.
# It exits with the group.
_WATCHDOG = """
import os, shutil, signal, sys, time
parent, group, workdir = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def alive():
    try:
        os.killpg(group, 0)
        return True
    except ProcessLookupError:
        return False
while alive():
    if os.getppid() != parent:
        os.killpg(group, signal.SIGTERM)
        end = time.monotonic() + 10
        while alive() and time.monotonic() < end:
            time.sleep(0.1)
        if alive():
            os.killpg(group, signal.SIGKILL)
        if workdir:
            shutil.rmtree(workdir, ignore_errors=True)
        break
    time.sleep(0.2)
"""


def gcloud() -> str | None:
    """Path of the gcloud CLI, or None."""
    return shutil.which("gcloud")


def pubsub_emulator_available() -> tuple[bool, str]:
    """Whether gcloud, its pubsub-emulator component and Java are installed, and why not."""
    cli = gcloud()
    if cli is None:
        return False, "gcloud CLI not installed (Debian package google-cloud-cli)"
    if shutil.which("java") is None:
        return False, "java not installed (Debian package openjdk-17-jre-headless)"
    sdk = Path(os.path.realpath(cli)).parent.parent  # .../google-cloud-sdk/bin/gcloud
    if not (sdk / "platform" / "pubsub-emulator" / "bin" / "cloud-pubsub-emulator").exists():
        return False, "gcloud pubsub-emulator component missing (google-cloud-cli-pubsub-emulator)"
    return True, ""


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no output)"
    return "\n".join(text.splitlines()[-lines:]) or "(no output)"


def http_ok(url: str, expect: bytes | None = None) -> bool:
    """True when `url` answers 200 (and its body starts with `expect`, if given)."""
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return resp.status == 200 and (expect is None or resp.read().startswith(expect))
    except (OSError, HTTPException):  # HTTPError is an OSError
        return False


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group `pgid`, from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def stop_group(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM the process group led by `proc`; SIGKILL what is left after `grace` seconds.

    Waits for every member, not just the leader: killing gcloud's Python alone would leave
    its Java child running.
    """
    deadline = time.monotonic() + grace
    # Children first, so that their parent (gcloud) reaps them and none is left a zombie.
    children = [pid for pid in group_members(proc.pid) if pid != proc.pid]
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    while time.monotonic() < deadline and set(children) & set(group_members(proc.pid)):
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    while time.monotonic() < deadline:
        proc.poll()  # reap the leader, so it does not count as a member
        if not group_members(proc.pid):
            break
        time.sleep(0.05)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@contextmanager
def launched(
    name: str,
    cmd: Sequence[str],
    ready: Callable[[str], bool],
    log: Path,
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
    fatal: Sequence[str] = (),
    port_taken: Sequence[str] = (),
    workdir: Path | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `cmd` as the leader of a new session and process group, output to `log`.

    `ready(log_text)` is polled until true. A string of `fatal` in the log (an error after
    which the process hangs instead of exiting), an early exit or `timeout` raise
    RuntimeError with the log's tail; PortTaken if the log has a string of `port_taken`.
    At exit, or if this process dies, the group is ended; in the latter case a watchdog
    also removes `workdir`, if given.
    """
    with log.open("wb") as out:
        proc = subprocess.Popen(
            list(cmd),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            # Own session: the leader's group holds all its children (gcloud moves itself
            # to a new group unless it leads its session), stopped as a whole.
            start_new_session=True,
        )
    watch = [str(os.getpid()), str(proc.pid), str(workdir or "")]
    watchdog = subprocess.Popen(
        [sys.executable, "-I", "-c", _WATCHDOG, *watch],
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            exited = proc.poll() is not None
            text = log.read_text(errors="replace")
            error: type[RuntimeError] = RuntimeError
            if taken := next((f for f in port_taken if f in text), None):
                problem, error = f"could not bind its port ({taken})", PortTaken
            elif exited:
                problem = f"exited with code {proc.returncode}"
            elif found := next((f for f in fatal if f in text), None):
                problem = f"failed ({found})"
            elif ready(text):
                break
            elif time.monotonic() > deadline:
                problem = f"not ready after {timeout:.0f} s"
            else:
                time.sleep(0.05)
                continue
            raise error(f"{name} {problem}: {' '.join(cmd)}\noutput tail:\n{tail(log)}")
        yield proc
    finally:
        stop_group(proc)
        watchdog.kill()
        watchdog.wait()


@contextmanager
def on_free_port(
    start: Callable[[int], tuple[AbstractContextManager[object], T]], attempts: int = 3
) -> Iterator[T]:
    """Enter ``start(port)[0]`` on a free port and yield ``start(port)[1]``.

    free_port() closes its socket before the server binds, so another process may take the
    port in between: on PortTaken, try again with another port.
    """
    for attempt in range(1, attempts + 1):
        server, value = start(free_port())
        with contextlib.ExitStack() as stack:
            try:
                stack.enter_context(server)
            except PortTaken:
                if attempt == attempts:
                    raise
                continue
            yield value
            return


@contextmanager
def pubsub_emulator(project: str = "oie-test", timeout: float = 60.0) -> Iterator[str]:
    """Run the Pub/Sub emulator; yield ``127.0.0.1:PORT`` for ``PUBSUB_EMULATOR_HOST``."""
    ok, why = pubsub_emulator_available()
    if not ok:
        raise RuntimeError(why)
    with tempfile.TemporaryDirectory(prefix="pubsub-emulator-") as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()  # gcloud does not create it: "Unable to write file [.../env.yaml]"
        env = {
            "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
            "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "1",
        }

        def start(port: int) -> tuple[AbstractContextManager[object], str]:
            host = f"127.0.0.1:{port}"
            cmd = [
                gcloud() or "gcloud",
                "beta", "emulators", "pubsub", "start",
                f"--host-port={host}",
                f"--data-dir={data_dir}",
                f"--project={project}",
                "--quiet",
            ]  # fmt: skip
            started = f"Server started, listening on {port}"

            def ready(log: str) -> bool:
                # The log line proves that it is our emulator on the port, not another server.
                return started in log and http_ok(f"http://{host}/", b"Ok")

            server = launched(
                "Pub/Sub emulator",
                cmd,
                ready,
                Path(tmp) / f"emulator-{port}.log",
                env=env,
                timeout=timeout,
                # On a taken port the JVM prints this and hangs instead of exiting.
                port_taken=["java.net.BindException"],
                fatal=["ERROR: (gcloud"],
                workdir=Path(tmp),
            )
            return server, host

        with on_free_port(start) as host:
            yield host
