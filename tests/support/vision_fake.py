"""A local fake of Cloud Vision's REST `POST /v1/images:annotate` (LABEL_DETECTION only).

Speaks the real wire format, so the real google-cloud-vision client (REST transport) can be
pointed at it: `ImageAnnotatorClient(transport="rest", credentials=AnonymousCredentials(),
client_options={"api_endpoint": fake.endpoint})`.

- Request: `{"requests": [{"image": {"content": BASE64}, "features": [{"type":
  "LABEL_DETECTION" | 4, "maxResults": N}]}]}` (the client sends enums as numbers and adds
  `?$alt=json;enum-encoding=int`). At most 16 images, at most 10 MB of JSON, as the API.
- Response: `{"responses": [{"labelAnnotations": [{"mid", "description", "score",
  "topicality"}]}]}`, best first, cut at maxResults (default 10, as the API).
- Content Pillow cannot fully decode, or a format the API does not take, gets the API's
  per-image error `{"error": {"code": 3, "message": "Bad image data."}}`.
- Labels are deterministic: programmed per image (`set_labels`, keyed by sha256 of the
  bytes), else picked from a fixed table of real Open Images classes by the sha256.
- `fail_next(n, status)` answers the next n calls with an HTTP error in Google's JSON error
  format (503 UNAVAILABLE, 429 RESOURCE_EXHAUSTED, ...); `delay_next(n, s)` stalls them.
- `calls` counts every POST to the endpoint; `requests` keeps the parsed bodies.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import io
import json
import random
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image

# Real Open Images label ids (class-descriptions-boxable / oidv6 class descriptions).
LABELS: tuple[tuple[str, str], ...] = (
    ("/m/01yrx", "Cat"),
    ("/m/0bt9lr", "Dog"),
    ("/m/0gv1x", "Parrot"),
    ("/m/015p6", "Bird"),
    ("/m/09d5_", "Owl"),
    ("/m/0ft9s", "Dragonfly"),
    ("/m/03vt0", "Insect"),
    ("/m/03h54r", "Sunflower"),
    ("/m/0c9ph5", "Flower"),
    ("/m/05s2s", "Plant"),
    ("/m/01b9xk", "Hot dog"),
    ("/m/01_bhs", "Fast food"),
    ("/m/02wbm", "Food"),
    ("/m/0dv5r", "Camera"),
    ("/m/01g317", "Person"),
    ("/m/0dzct", "Human face"),
    ("/m/04yx4", "Man"),
    ("/m/03bt1vf", "Woman"),
    ("/m/01rkbr", "Tie"),
    ("/m/01xyhv", "Suit"),
    ("/m/0jbk", "Animal"),
    ("/m/04rky", "Mammal"),
    ("/m/09686", "Vertebrate"),
    ("/m/01c4rd", "Beak"),
    ("/m/0dfgf", "Feather"),
    ("/m/01l7qd", "Whiskers"),
    ("/m/07j7r", "Tree"),
    ("/m/01bqvp", "Sky"),
    ("/m/068jd", "Photograph"),
    ("/m/0j272k5", "Eyewear"),
)
DEFAULT_COUNT = 12  # labels the table answer has; scores spread from ~0.97 down to ~0.1
MAX_RESULTS_DEFAULT = 10
MAX_IMAGES = 16
MAX_JSON_BYTES = 10 * 1024 * 1024
SUPPORTED = frozenset({"JPEG", "MPO", "PNG", "GIF", "BMP", "WEBP", "ICO", "TIFF"})
LABEL_DETECTION = 4
PATH = re.compile(r"^/v1/(?:projects/[^/]+/(?:locations/[^/]+/)?)?images:annotate$")
STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
          404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL",
          503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}  # fmt: skip
MESSAGES = {429: "Quota exceeded for quota metric 'Requests' and limit 'Requests per minute' "
                 "of service 'vision.googleapis.com'.",
            503: "The service is currently unavailable."}  # fmt: skip


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def table_labels(data: bytes) -> list[dict[str, Any]]:
    """The deterministic answer for an image nobody programmed: from its sha256."""
    rng = random.Random(hashlib.sha256(data).digest())
    picks = rng.sample(LABELS, DEFAULT_COUNT)
    out = []
    for i, (mid, description) in enumerate(picks):
        score = round(0.97 - i * 0.08 - rng.uniform(0.0, 0.03), 6)
        out.append({"mid": mid, "description": description, "score": score,
                    "topicality": score})  # fmt: skip
    return out


def _decodes(data: bytes) -> bool:
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in SUPPORTED:
                return False
            image.load()
    except Exception:
        return False
    return True


class VisionFake:
    """State of one fake server; every method is safe to call while it serves."""

    def __init__(self) -> None:
        self.endpoint = ""
        self.calls = 0
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._programmed: dict[str, dict[str, Any]] = {}
        self._failures: list[int] = []
        self._delays: list[float] = []

    def set_labels(self, data: bytes, labels: Sequence[tuple[str, str, float]]) -> None:
        """Answer `data` with these (mid, description, score); topicality = score."""
        annotations = [{"mid": m, "description": d, "score": s, "topicality": s}
                       for m, d, s in labels]  # fmt: skip
        with self._lock:
            self._programmed[digest(data)] = {"labelAnnotations": annotations}

    def set_error(self, data: bytes, code: int, message: str) -> None:
        """Answer `data` with a per-image error (a google.rpc.Status)."""
        with self._lock:
            self._programmed[digest(data)] = {"error": {"code": code, "message": message}}

    def fail_next(self, n: int = 1, status: int = 503) -> None:
        with self._lock:
            self._failures.extend([status] * n)

    def recover(self) -> None:
        """End an outage that fail_next started."""
        with self._lock:
            self._failures.clear()

    def delay_next(self, n: int = 1, seconds: float = 1.0) -> None:
        with self._lock:
            self._delays.extend([seconds] * n)

    # -- the server side ------------------------------------------------------------------

    def _next(self) -> tuple[int | None, float]:
        with self._lock:
            self.calls += 1
            status = self._failures.pop(0) if self._failures else None
            delay = self._delays.pop(0) if self._delays else 0.0
        return status, delay

    def _annotate_one(self, item: dict[str, Any]) -> dict[str, Any]:
        content = (item.get("image") or {}).get("content")
        if not content:
            return {"error": {"code": 3, "message": "No image content was provided."}}
        try:
            data = base64.b64decode(content.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            return {"error": {"code": 3, "message": "Bad image data."}}
        features = item.get("features") or []
        wanted = [f for f in features if f.get("type") in (LABEL_DETECTION, "LABEL_DETECTION")]
        with self._lock:
            programmed = self._programmed.get(digest(data))
        if programmed is None and not _decodes(data):
            return {"error": {"code": 3, "message": "Bad image data."}}
        if programmed is not None and "error" in programmed:
            return programmed
        if not wanted:
            return {}  # only label detection is faked; other features answer nothing
        max_results = int(wanted[0].get("maxResults") or MAX_RESULTS_DEFAULT)
        labels = programmed["labelAnnotations"] if programmed else table_labels(data)
        labels = sorted(labels, key=lambda a: -a["score"])[:max_results]
        return {"labelAnnotations": labels} if labels else {}

    def handle(self, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        if not PATH.match(path.split("?", 1)[0]):
            return 404, _error(404, f"The requested URL {path} was not found.")
        status, delay = self._next()
        if delay:
            time.sleep(delay)
        if status is not None:
            return status, _error(status, MESSAGES.get(status, "The service failed."))
        if len(body) > MAX_JSON_BYTES:
            return 400, _error(
                400, f"Request payload size exceeds the limit: {MAX_JSON_BYTES} bytes."
            )
        try:
            request = json.loads(body)
            items = request["requests"]
            assert isinstance(items, list)
        except (ValueError, KeyError, TypeError, AssertionError):
            return 400, _error(400, "Invalid JSON payload received.")
        with self._lock:
            self.requests.append(request)
        if len(items) > MAX_IMAGES:
            return 400, _error(400, f"At most {MAX_IMAGES} images are allowed per request.")
        return 200, {"responses": [self._annotate_one(item) for item in items]}


def _error(status: int, message: str) -> dict[str, Any]:
    return {"error": {"code": status, "message": message, "status": STATUS.get(status, "UNKNOWN")}}


def _handler(fake: VisionFake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the client's requests.Session expects

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            status, answer = fake.handle(self.path, body)
            self._send(status, answer)

        def do_GET(self) -> None:
            self._send(404, _error(404, f"The requested URL {self.path} was not found."))

        def _send(self, status: int, answer: dict[str, Any]) -> None:
            payload = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            # The client may have given up first (the timeout tests): nothing to answer.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    return Handler


@contextmanager
def vision_fake() -> Iterator[VisionFake]:
    """A fake on 127.0.0.1 at a free port, serving until the block ends."""
    fake = VisionFake()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    fake.endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="vision-fake", daemon=True
    )
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
