"""The local stack's event source: files dropped into the bucket folder become finalize
events for the classifiers, as a bucket notification does on Google Cloud.

Polling keeps it portable. A file is dispatched once it has held still for SETTLE_S (a
copy in progress is not classified half-written), under its generation (its ctime, see
storage.folder.file_generation), so a replacement is classified again even when it
keeps the old mtime. Every file ends as a row or as one "file dropped: why" log line:
symlinks (not followed), names that are not UTF-8 or not object names, and files whose
classification keeps failing after MAX_ATTEMPTS, retried with exponential backoff. On
start every file is seen afresh and the runners skip what `classifications` already has:
after a crash the batch completes, with no duplicates.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ..errors import OIEError
from ..logs import log
from ..pipeline.events import ClassifyRequest, for_object
from ..storage.folder import file_generation

Dispatch = Callable[[ClassifyRequest], object]
Stamp = tuple[int, int, int, int]  # size, mtime_ns, ctime_ns, inode: any change is a change
# Quiet time before a file is classified: its ctime this old, or seen unchanged this long.
# Longer than a poll, so a writer pausing between chunks is not caught mid-file.
SETTLE_S = 1.0
MAX_ATTEMPTS = 5  # classifications of one file per classifier before it is dropped
BACKOFF_S = 0.5  # the wait after the first failure; doubled after each one (0.5 .. 4 s)


@dataclass(frozen=True)
class Seen:
    stamp: Stamp
    generation: str
    problem: str = ""  # why it will not be classified, when it will not


@dataclass
class Retry:
    due: float  # time.monotonic()
    attempt: int  # attempts made so far
    dispatch: Dispatch
    request: ClassifyRequest


def printable(name: str) -> str:
    """A name as its bytes read, undecodable bytes as \\xNN: safe in a log line."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def dropped(name: str, reason: str, **fields: object) -> None:
    """The one log line of a file that will not get a row (grep for "file dropped")."""
    log("WARNING", f"file dropped: {reason}", key=printable(name), reason=reason, **fields)


class FolderWatcher:
    def __init__(self, root: Path, bucket: str, dispatch: Iterable[Dispatch],
                 interval: float = 0.1, workers: int = 2, settle: float = SETTLE_S,
                 backoff: float = BACKOFF_S, max_attempts: int = MAX_ATTEMPTS):  # fmt: skip
        self.root, self.bucket, self.interval = root, bucket, interval
        self.settle, self.backoff, self.max_attempts = settle, backoff, max_attempts
        self.dispatch = list(dispatch)
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="classify")
        self._pending: dict[str, tuple[Stamp, float]] = {}  # waiting to hold still, since
        self._done: dict[str, Stamp] = {}  # dispatched or dropped, at this stamp
        self._lock = threading.Lock()  # _retries, shared with the pool's threads
        self._retries: list[Retry] = []
        self._unreadable: set[str] = set()  # folders already logged as unreadable
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bucket-watcher", daemon=True)

    def start(self) -> FolderWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._pool.shutdown(wait=True)

    def _scan(self) -> dict[str, Seen]:
        found: dict[str, Seen] = {}
        folders = [self.root]
        while folders:  # os.scandir reuses the directory's stat: ~5x cheaper than rglob
            folder = folders.pop()
            try:
                entries = list(os.scandir(folder))
            except FileNotFoundError:
                continue
            except OSError as exc:  # unreadable: said once, not on every pass
                if str(folder) not in self._unreadable:
                    self._unreadable.add(str(folder))
                    log("ERROR", f"folder not readable: {exc}", key=printable(str(folder)))
                continue
            for entry in entries:
                if entry.name.startswith(".incoming-"):
                    continue  # FolderStore.put's file being written; renamed when complete
                try:
                    is_dir = entry.is_dir(follow_symlinks=False)
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue  # gone since the listing
                if is_dir:
                    folders.append(Path(entry.path))
                    continue
                name = Path(entry.path).relative_to(self.root).as_posix()
                stamp = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
                problem = ""
                if stat.S_ISLNK(st.st_mode):
                    problem = "symlinks are not followed"
                elif not stat.S_ISREG(st.st_mode):
                    problem = "not a regular file"
                found[name] = Seen(stamp, file_generation(st), problem)
        return found

    def poll(self) -> int:
        """One pass: dispatch files that held still for SETTLE_S, and retries that are due;
        returns how many files were dispatched."""
        now, wall = time.monotonic(), time.time_ns()
        seen = self._scan()
        pending: dict[str, tuple[Stamp, float]] = {}
        ready: list[tuple[str, Seen]] = []
        for name, item in seen.items():
            if self._done.get(name) == item.stamp:
                continue
            if item.problem:
                self._done[name] = item.stamp
                dropped(name, item.problem)
                continue
            since = self._pending.get(name)
            first_seen = since[1] if since and since[0] == item.stamp else now
            quiet = max((wall - item.stamp[2]) / 1e9, now - first_seen)
            if quiet >= self.settle:
                ready.append((name, item))
            else:
                pending[name] = (item.stamp, first_seen)
        self._pending = pending
        self._done = {n: s for n, s in self._done.items() if n in seen}  # forget deleted files
        for name, item in ready:
            self._done[name] = item.stamp
            try:
                request = for_object(self.bucket, name, item.generation, event_id=f"local-{name}")
            except OIEError as exc:  # not UTF-8, a line break, too long: never an object
                dropped(name, str(exc))
                continue
            for dispatch in self.dispatch:
                self._pool.submit(self._run, Retry(now, 0, dispatch, request))
        with self._lock:
            due = [r for r in self._retries if r.due <= now]
            self._retries = [r for r in self._retries if r.due > now]
        for retry in due:
            self._pool.submit(self._run, retry)
        return len(ready)

    def _run(self, job: Retry) -> None:
        request, attempt = job.request, job.attempt + 1
        classifier = getattr(getattr(job.dispatch, "__self__", None), "classifier", "")
        try:
            job.dispatch(request)
        except Exception as exc:
            if isinstance(exc, OIEError) and exc.status < 500:  # permanent: e.g. replaced
                dropped(request.object, str(exc), classifier=classifier, status=exc.status)
            elif attempt >= self.max_attempts:
                dropped(request.object, f"classification failed {attempt} times: {exc}",
                        classifier=classifier, attempts=attempt)  # fmt: skip
            else:  # transient (the runner records permanent ones as rows): later
                wait = self.backoff * 2 ** (attempt - 1)
                log("ERROR", f"classification failed, retrying in {wait:g} s: {exc}",
                    key=request.key, classifier=classifier, attempt=attempt)  # fmt: skip
                with self._lock:
                    self._retries.append(Retry(time.monotonic() + wait, attempt, job.dispatch,
                                               request))  # fmt: skip

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
            except Exception as exc:
                log("ERROR", f"watcher pass failed: {exc}")
            self._stop.wait(self.interval)
