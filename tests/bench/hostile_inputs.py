"""The hostile inputs of the hostile-input bench: bombs, bad events, odd files, slow sockets.

Every builder is deterministic; every name and event id carries the run's token, so the
bench can find each one's outcome (a row, a logged drop) afterwards.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import os
import select
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

BOUNDARY = "oie-hostile-bench-boundary"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
EPS = (
    b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 100 100\n%%EndComments\n"
    b"newpath 10 10 moveto 90 90 lineto stroke showpage\n%%EOF\n"
)


def bomb_png(width: int, height: int) -> bytes:
    """A PNG claiming width x height pixels; 1-bit and all black, so it compresses to KBs."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("1", (width, height), 0).save(out, "PNG", optimize=True)
    return out.getvalue()


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def multipart(files: list[tuple[str, bytes]], fields: list[tuple[str, str]] | None = None) -> bytes:
    """A multipart/form-data body: each file as a part of field `files`, then the fields."""
    parts = []
    for name, data in files:
        parts.append(
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="{name}"'
            "\r\nContent-Type: application/octet-stream\r\n\r\n".encode()
            + data
            + b"\r\n"
        )
    for key, value in fields or []:
        parts.append(
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'
            .encode()
        )  # fmt: skip
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def chunked_body(total: int, chunk: int = 1 << 20) -> Iterator[bytes]:
    """A multipart body of one file part of about `total` bytes, produced as it is sent."""
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="huge.png"'
        "\r\nContent-Type: image/png\r\n\r\n"
    ).encode()
    block = b"\0" * chunk
    for _ in range(total // chunk):
        yield block
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def send_chunked(port: int, total: int, timeout: float) -> tuple[int, float]:
    """POST a chunked upload of `total` bytes to /image_classify: (status, seconds).

    Run in a process of its own (`python hostile_inputs.py PORT TOTAL TIMEOUT`), as an
    attacker's would be: in the bench's, its sends would share the interpreter lock with
    forty client threads, and its time would include theirs."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    started = time.perf_counter()
    try:
        conn.request("POST", "/image_classify?format=json", chunked_body(total),
                     {"Content-Type": MULTIPART}, encode_chunked=True)  # fmt: skip
        response = conn.getresponse()
        response.read()
        status = response.status
    except (OSError, http.client.HTTPException):
        status = 0
    finally:
        conn.close()
    return status, time.perf_counter() - started


# --- bad CloudEvents -------------------------------------------------------------------------

STORAGE = "google.cloud.storage.object.v1.finalized"
PUBSUB = "google.cloud.pubsub.topic.v1.messagePublished"


def _event(event_id: str, kind: str, data: object, at: str | None = None) -> dict[str, object]:
    return {
        "specversion": "1.0", "id": event_id, "type": kind,
        "source": "//hostile-bench", "time": at or datetime.now(UTC).isoformat(), "data": data,
    }  # fmt: skip


def bad_event(kind: str, event_id: str, bucket: str, image_id: str) -> dict[str, object]:
    """One structured CloudEvent of the given kind (see BAD_EVENTS), each a permanent error
    or, for `naive-time`, a valid request for an object that does not exist."""
    token = event_id.replace("/", "-")
    naive = datetime.now(UTC).replace(tzinfo=None).isoformat()
    message = {"message": {"data": ""}, "subscription": "projects/p/subscriptions/s"}
    match kind:
        case "dotdot-object":
            return _event(event_id, STORAGE, {"bucket": bucket, "name": f"../{token}"})
        case "folder-object":
            return _event(event_id, STORAGE, {"bucket": bucket, "name": f"{token}/"})
        case "nul-object":
            return _event(event_id, STORAGE, {"bucket": bucket, "name": f"{token}\0.jpg"})
        case "message-list":
            return _event(event_id, PUBSUB, {"message": [token]})
        case "message-string":
            return _event(event_id, PUBSUB, {"message": token})
        case "message-data-number":
            return _event(event_id, PUBSUB, {**message, "message": {"data": 12345}})
        case "data-number":
            return _event(event_id, PUBSUB, 12345)
        case "naive-time":
            data = {"bucket": bucket, "name": f"{token}-missing.jpg", "generation": "1"}
            return _event(event_id, STORAGE, data, at=naive)
        case "image-id-newline":
            body = json.dumps({"image_id": image_id + "\n"}).encode()
            data = {**message, "message": {"data": base64.b64encode(body).decode()}}
            return _event(event_id, PUBSUB, data)
    raise ValueError(kind)


BAD_EVENTS = ("dotdot-object", "folder-object", "nul-object", "message-list", "message-string",
              "message-data-number", "data-number", "naive-time", "image-id-newline")  # fmt: skip


# --- odd files dropped into the bucket folder ------------------------------------------------


def drop_odd_files(bucket: Path, outside: Path, token: str, photo: bytes,
                   bombs: dict[str, bytes]) -> dict[str, str]:  # fmt: skip
    """Drop the bombs and the odd files; returns each one's search token -> what it is."""
    bucket.mkdir(parents=True, exist_ok=True)
    outside.mkdir(parents=True, exist_ok=True)
    dropped: dict[str, str] = {}
    for label, data in bombs.items():
        name = f"{token}-bomb-{label}"
        (bucket / f"{name}.png").write_bytes(data)
        width, height = png_size(data)
        dropped[name] = f"PNG claiming {width}x{height} ({len(data) // 1024} KB)"
    target = outside / "outside.jpg"
    target.write_bytes(photo)
    link = f"{token}-symlink-outside"
    os.symlink(target, bucket / f"{link}.jpg")
    dropped[link] = "symlink to a file outside the bucket"
    odd = f"{token}-not-utf8"
    with open(os.fsencode(bucket) + b"/" + odd.encode() + b"-\xff\xfe.jpg", "wb") as out:
        out.write(photo)
    dropped[odd] = "name that is not UTF-8"
    return dropped


def write_slowly(path: Path, data: bytes, pieces: int = 10, pause_s: float = 0.3) -> None:
    """Write a file into the bucket folder in place, a piece at a time (as a slow copy does)."""
    with path.open("wb") as out:
        step = len(data) // pieces + 1
        for i in range(0, len(data), step):
            out.write(data[i : i + step])
            out.flush()
            time.sleep(pause_s)


# --- slow clients ----------------------------------------------------------------------------


@dataclass
class SlowOutcome:
    kind: str
    held_s: float
    closed_by_server: bool
    answer: str  # the status line the server sent, if any


def slow_client(port: int, kind: str, hold_s: float, stop_at: float) -> SlowOutcome:
    """`trickle`: headers one byte every 0.2 s, never finished; `idle`: connect, send nothing.
    Ends when the server closes, after `hold_s`, or at `stop_at` (monotonic)."""
    start = time.monotonic()
    end = min(start + hold_s, stop_at)
    head = b"GET /classes HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    filler = (b"X-Slow-%d: %s\r\n" % (i, uuid.uuid4().hex.encode()) for i in range(10**6))
    pending = bytearray(head)
    answer, closed = "", False
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            while time.monotonic() < end:
                readable, _, _ = select.select([sock], [], [], 0.2)
                if readable:
                    got = sock.recv(4096)
                    if not got:
                        closed = True
                        break
                    answer = answer or got.split(b"\r\n", 1)[0].decode(errors="replace")
                if kind == "trickle":
                    if not pending:
                        pending += next(filler)
                    sock.send(bytes(pending[:1]))
                    del pending[:1]
    except OSError:
        closed = True
    return SlowOutcome(kind, time.monotonic() - start, closed, answer)


if __name__ == "__main__":
    import sys

    status, seconds = send_chunked(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]))
    print(json.dumps({"status": status, "seconds": seconds}))
