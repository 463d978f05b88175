"""Classify one request and append its row to `classifications`, exactly once per key.

Permanent problems (not an image, object gone) become a `rejected` row and the event is
acknowledged; transient ones (the warehouse or a fetch failing for now) raise, so the
platform delivers the event again.
"""

from __future__ import annotations

import hashlib
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from ..classify.images import MAX_BYTES, RejectedImage
from ..classify.labels import Labeler
from ..dataset.sources import DownloadFailed
from ..errors import Gone, TooLarge
from ..logs import log
from ..storage import BlobStore
from ..tables import CLASSIFICATIONS, spec
from ..warehouse import Warehouse
from .events import ClassifyRequest, dropped, for_object

TABLE = CLASSIFICATIONS
MAX_EVENT_AGE = timedelta(hours=24)
# A redelivered event is younger than MAX_EVENT_AGE, so its first row is too: looking back
# twice that (@since) reads a few daily partitions, not the whole table.
SEEN = """SELECT status FROM classifications
WHERE classified_at >= @since AND request_key = @key AND classifier = @classifier
  AND model = @model LIMIT 1"""
STORED_TOP_K, STORED_MIN_SCORE = 10, 0.01


class ObjectGone(Gone, LookupError):
    """The thing to classify no longer exists: permanent."""


Fetch = Callable[[ClassifyRequest], bytes]


def fetch_url(url: str, timeout: float = 20.0, max_bytes: int = MAX_BYTES) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            data: bytes = response.read(max_bytes + 1)
    except urllib.error.HTTPError as exc:
        if exc.code in (403, 404, 410):
            raise ObjectGone(f"{url}: HTTP {exc.code}") from exc
        raise DownloadFailed(f"cannot download {url}: HTTP {exc.code}") from exc
    except (urllib.error.URLError, OSError) as exc:  # may work later: delivered again
        reason = getattr(exc, "reason", None) or exc
        raise DownloadFailed(f"cannot download {url}: {reason}") from exc
    if len(data) > max_bytes:
        raise TooLarge(None, f"{url} is over the limit of {max_bytes:,} bytes")
    return data


def fetch(request: ClassifyRequest, store: BlobStore, image_url: Callable[[str], str]) -> bytes:
    """The bytes to classify: the bucket's object at the request's generation, or the Open
    Images photo; at most the image limit, refused before more is downloaded. An object now
    at another generation raises NotThatGeneration (a 4xx: the event is dropped, not a row;
    the newer generation has an event of its own)."""
    if request.image_id:
        return fetch_url(image_url(request.image_id))
    if request.bucket != store.bucket:
        raise ObjectGone(f"bucket {request.bucket!r} is not this stack's {store.bucket!r}")
    try:
        return store.get(request.object, request.generation, max_bytes=MAX_BYTES)
    except FileNotFoundError as exc:
        raise ObjectGone(f"{request.source_uri} no longer exists") from exc


def current_generation(request: ClassifyRequest, store: BlobStore) -> ClassifyRequest:
    """A request for gs://bucket/object names no generation: key it by the object's
    current one, so it meets the notification of that same object as one key."""
    if not request.bucket or request.generation:
        return request
    found = store.stat(request.object) if request.bucket == store.bucket else None
    if found is None:
        return request  # classified as gone, under the key without a generation
    return for_object(request.bucket, request.object, found.generation,
                      event_id=request.event_id, event_time=request.event_time)  # fmt: skip


def row_id(request: ClassifyRequest, classifier: str, model: str) -> str:
    return hashlib.sha256(f"{request.key}|{classifier}|{model}".encode()).hexdigest()


class Runner:
    """Classifies requests with one labeler into one warehouse; thread-safe."""

    def __init__(
        self,
        classifier: str,
        labeler: Callable[[], Labeler],
        fetch: Fetch,
        warehouse: Warehouse,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.classifier = classifier
        self._labeler, self._fetch, self.warehouse, self._clock = labeler, fetch, warehouse, clock
        self._lock = threading.Lock()
        self._in_flight: set[tuple[str, str]] = set()
        self._table_ready = False

    def _ensure_table(self) -> None:
        # Deployed, the table is provisioned and the classifier may append to it but not
        # create tables: `ensure_table` looks before creating.
        if not self._table_ready:
            self.warehouse.ensure_table(spec(TABLE))
            self._table_ready = True

    def handle(self, request: ClassifyRequest) -> str:
        """Classify unless already done; returns ok, rejected, duplicate or stale."""
        fields = {"event_id": request.event_id, "key": request.key, "classifier": self.classifier}
        now = self._clock()
        if request.event_time and now - request.event_time > MAX_EVENT_AGE:
            hours = MAX_EVENT_AGE.total_seconds() / 3600
            dropped(f"the event is older than {hours:g} h", **fields, event_time=request.event_time)
            return "stale"
        labeler = self._labeler()
        key = (request.key, labeler.model)
        with self._lock:  # claim the key: one worker classifies it, the others skip it
            claimed = key not in self._in_flight
            self._in_flight.add(key)
        if not claimed:
            log("INFO", "already being classified", **fields)
            return "duplicate"
        try:
            # Asked outside the lock: on BigQuery this is a round trip of its own, and
            # events with other keys need not wait for it.
            self._ensure_table()
            seen = self.warehouse.query(SEEN, {
                "since": now - 2 * MAX_EVENT_AGE, "key": request.key,
                "classifier": self.classifier, "model": labeler.model,
            })  # fmt: skip
            if seen:
                log("INFO", "already classified", **fields)
                return "duplicate"
            started = time.perf_counter()
            labels: list[dict[str, Any]] = []
            error = None
            try:
                found = labeler.classify(self._fetch(request), STORED_MIN_SCORE, STORED_TOP_K)
                labels = [{"label": p.label, "score": p.score, "mid": getattr(p, "mid", None)}
                          for p in found]  # fmt: skip
            except (RejectedImage, TooLarge, ObjectGone) as exc:
                error = str(exc)
            status = "rejected" if error else "ok"
            row = {
                "request_key": request.key, "source_uri": request.source_uri,
                "bucket": request.bucket, "object": request.object,
                "generation": request.generation, "image_id": request.image_id,
                "classifier": self.classifier, "model": labeler.model, "labels": labels,
                "status": status, "error": error, "event_id": request.event_id,
                "classified_at": now, "latency_ms": (time.perf_counter() - started) * 1000,
            }  # fmt: skip
            self.warehouse.append(TABLE, [row], [row_id(request, self.classifier, labeler.model)])
        finally:
            with self._lock:
                self._in_flight.discard(key)
        log("INFO", f"classified: {status}", **fields, error=error, labels=len(labels))
        return status
