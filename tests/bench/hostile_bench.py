"""Hostile input and faults: the same load with and without hostile requests, in one run.

`oie serve` (its own process group, the demo warehouse in a temporary data dir, stderr to a
log file) gets two phases of --seconds each: a clean phase of 32 query clients and 8
uploaders over HTTP keep-alive, then a hostile phase of the same load with hostile requests
mixed in: exponential LIKE patterns, decompression bombs shown through `results`, uploads
of bombs and EPS, an oversized chunked upload, too many form parts, bad CloudEvents, odd
files dropped into the bucket folder, and slow clients. Per phase it measures 5xx, latency
of the ordinary requests, the server's RSS peak, and whether every dropped file and event
ended as exactly one row or one logged drop.

Prints a Markdown report and writes the `<!-- bench:hostile:start -->` section of
BENCHMARKS.md. Exits non-zero only when the bench itself fails, not on a missed target.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import http.client
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import hostile_inputs as hi
from pipeline_bench import (
    Others,
    bench_env,
    cpu_seconds,
    import_demo,
    machine_busy,
    ms,
    own_cpu,
    percentile,
    photos,
    serving,
)
from report import BENCH_MD, machine, write_section

ROOT = Path(__file__).resolve().parents[2]
QUERY_CLIENTS, UPLOADERS = 32, 8
TIMEOUT_S = 10.0  # every client request; an unanswered one counts as a failure
TARGET_MAX_S = 2.0
TARGET_P99_RATIO = 2.0
TARGET_RSS = 1 << 30
CHUNKED_BYTES = 100 << 20  # past the 32 MiB upload limit, sent without Content-Length
FORM_PARTS = 1500
SLOW_HOLD_S = 20.0
IDLE_S = 1.0  # gunicorn closes a kept-alive connection idle for 2 s: reconnect before that
# what the hostile phase fires (--only picks some; the default is all): kinds by prefix
GROUPS = ("like", "results-bomb", "upload-bomb", "upload-eps", "upload-chunked", "form-parts",
          "events", "files", "slow")  # fmt: skip
DROP_LINE = re.compile(r"\bdrop", re.I)  # a log line whose message says the input was dropped


# --- what the load is made of ----------------------------------------------------------------


@dataclass(frozen=True)
class Data:
    """Realistic inputs, drawn from the course CSVs the demo imports."""

    classes: list[str]
    image_ids: list[str]
    relations: list[str]
    photos: list[tuple[str, bytes]]

    @classmethod
    def load(cls, assets: Path) -> Data:
        folder = assets / "openimages"
        names = {
            r["Label"]: r["Description"] for r in csv.DictReader((folder / "classes.csv").open())
        }
        labels = list(csv.DictReader((folder / "image-labels.csv").open()))
        used = sorted({names[r["Label"]] for r in labels if r["Label"] in names})
        relations = sorted(
            {r["Relation"] for r in csv.DictReader((folder / "relations.csv").open())}
        )
        images = sorted({r["ImageId"] for r in labels})
        shots = [(p.name, p.read_bytes()) for p in photos(assets)]
        return cls(used, images, relations, shots)


def query_path(data: Data, rnd: random.Random) -> tuple[str, str]:
    """(kind, path) of one ordinary query; half ask for JSON, half for the HTML page."""
    fmt = rnd.choice(("format=json", ""))
    q = urllib.parse.quote
    kind = rnd.choice(("classes", "relations", "image_info", "image_search", "image_search",
                       "image_search_multiple", "relation_search", "relation_search"))  # fmt: skip
    match kind:
        case "classes" | "relations":
            return kind, f"/{kind}?{fmt}".rstrip("?")
        case "image_info":
            return kind, f"/image_info?image_id={rnd.choice(data.image_ids)}&{fmt}".rstrip("&")
        case "image_search":
            return kind, f"/image_search?description={q(rnd.choice(data.classes))}&{fmt}".rstrip(
                "&"
            )
        case "image_search_multiple":
            names = ",".join(rnd.sample(data.classes, rnd.randint(2, 4)))
            mode = rnd.choice(("any", "all"))
            return kind, f"/image_search_multiple?descriptions={q(names)}&mode={mode}&{fmt}".rstrip(
                "&"
            )
    one = rnd.choice(data.classes)
    class1 = rnd.choice((one, one[: max(2, len(one) // 2)] + "%", "%"))
    relation = rnd.choice((*data.relations, "%"))
    path = f"/relation_search?class1={q(class1)}&relation={q(relation)}&class2=%25&{fmt}"
    return kind, path.rstrip("&")


# --- measuring requests ----------------------------------------------------------------------


@dataclass
class Sample:
    phase: str
    hostile: bool
    kind: str
    status: int  # 0: no answer in TIMEOUT_S (or the connection failed); -1: cut off while sending
    seconds: float


@dataclass
class Recorder:
    samples: list[Sample] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, sample: Sample) -> None:
        self.samples.append(sample)  # list.append is atomic

    def note(self, what: str) -> None:
        with self._lock:
            self.errors[what] += 1


class Client:
    """One keep-alive HTTP connection, reopened after any failure."""

    def __init__(self, port: int, rec: Recorder):
        self.port, self.rec = port, rec
        self.conn: http.client.HTTPConnection | None = None
        self.last_used = 0.0

    def send(self, phase: str, hostile: bool, kind: str, method: str, path: str,
             body: bytes | Iterable[bytes] | None = None,
             headers: dict[str, str] | None = None) -> int:  # fmt: skip
        start = time.perf_counter()
        status = self._exchange(kind, method, path, body, headers or {})
        self.rec.add(Sample(phase, hostile, kind, status, time.perf_counter() - start))
        return status

    def _exchange(self, kind: str, method: str, path: str, body: bytes | Iterable[bytes] | None,
                  headers: dict[str, str]) -> int:  # fmt: skip
        """The status; 0 for no answer, -1 when the server stopped reading and did not answer.
        A kept-alive connection the server had closed meanwhile is retried once, afresh."""
        if time.monotonic() - self.last_used > IDLE_S:
            self._reset()  # the server may be closing it right now: no race, a fresh one
        for attempt in (1, 2):
            reused = self.conn is not None
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT_S)
            status = 0
            try:
                try:
                    chunked = body is not None and not isinstance(body, bytes)
                    self.conn.request(method, path, body, headers, encode_chunked=chunked)
                except (BrokenPipeError, ConnectionResetError):
                    if reused and attempt == 1 and isinstance(body, bytes | None):
                        self.rec.note("retried once: a kept-alive connection closed")
                        self._reset()
                        continue
                    status = -1  # it stopped reading our body: it may still have answered
                response = self.conn.getresponse()
                response.read()
                self.last_used = time.monotonic()
                if response.will_close:
                    self._reset()
                return response.status
            except (http.client.RemoteDisconnected, ConnectionResetError):
                self._reset()
                if reused and attempt == 1 and status == 0 and isinstance(body, bytes | None):
                    self.rec.note("retried once: a kept-alive connection closed")
                    continue
                self.rec.note(f"{kind}: connection closed")
                return status
            except (OSError, http.client.HTTPException) as exc:
                self.rec.note(f"{kind}: {type(exc).__name__}")
                self._reset()
                return status
        return 0

    def _reset(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.conn = None


def upload(client: Client, phase: str, hostile: bool, kind: str, name: str, data: bytes,
           fields: list[tuple[str, str]] | None = None) -> int:  # fmt: skip
    body = hi.multipart([(name, data)], fields)
    return client.send(phase, hostile, kind, "POST", "/image_classify?format=json", body,
                       {"Content-Type": hi.MULTIPART})  # fmt: skip


# --- the server's memory ---------------------------------------------------------------------


class RssSampler(threading.Thread):
    """Every 100 ms, the summed VmRSS of the server's process group; the peak per phase."""

    def __init__(self, pgid: int):
        super().__init__(daemon=True, name="rss")
        self.pgid, self.phase = pgid, "start"
        self.peaks: dict[str, int] = {}
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            rss = group_rss(self.pgid)
            self.peaks[self.phase] = max(self.peaks.get(self.phase, 0), rss)
            self._halt.wait(0.1)

    def stop(self) -> None:
        self._halt.set()
        self.join()


def group_rss(pgid: int) -> int:
    total = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if int((proc / "stat").read_text().rsplit(")", 1)[1].split()[2]) != pgid:
                continue
            found = re.search(r"VmRSS:\s+(\d+) kB", (proc / "status").read_text())
        except (OSError, IndexError, ValueError):
            continue
        total += int(found.group(1)) * 1024 if found else 0
    return total


# --- the phases ------------------------------------------------------------------------------


@dataclass
class Hostile:
    """What the hostile phase fires, and what it dropped (for the accounting)."""

    port: int
    data: Data
    bucket: str
    bucket_dir: Path
    work: Path
    token: str
    bombs: dict[str, bytes]
    only: frozenset[str] = frozenset(GROUPS)
    event_ids: dict[str, str] = field(default_factory=dict)  # id -> kind
    files: dict[str, str] = field(default_factory=dict)  # token -> what it is
    result_keys: dict[str, str] = field(default_factory=dict)  # bomb label -> key
    slow: list[hi.SlowOutcome] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _n: int = 0

    def next_event(self, kind: str) -> dict[str, object]:
        with self._lock:
            self._n += 1
            event_id = f"{self.token}-ev-{self._n:06d}-{kind}"
            self.event_ids[event_id] = kind
        return hi.bad_event(kind, event_id, self.bucket, random.choice(self.data.image_ids))

    def result_key(self, label: str) -> str:
        """The `results` key of a dropped bomb: its row's, or as the watcher makes it."""
        if label in self.result_keys:
            return self.result_keys[label]
        name = f"{self.token}-bomb-{label}.png"
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT_S)
            conn.request("GET", f"/results?format=json&prefix={urllib.parse.quote(name)}")
            found = json.loads(conn.getresponse().read())["results"]
            conn.close()
            if found:
                self.result_keys[label] = found[0]["key"]
                return self.result_keys[label]
        except (OSError, ValueError, KeyError, http.client.HTTPException):
            pass
        return f"{self.bucket}/{name}#{(self.bucket_dir / name).stat().st_mtime_ns}"


def hostile_actions(h: Hostile) -> list[tuple[str, float, Callable[[Client, str], object]]]:
    """(kind, seconds between two, action): each runs on a client thread of its own."""
    q = urllib.parse.quote

    def like(n: int, field_: str) -> Callable[[Client, str], object]:
        path = f"/relation_search?{field_}={q('%' * n + '!')}&format=json"
        return lambda c, p: c.send(p, True, f"like-{n}", "GET", path)

    def results_bomb(label: str) -> Callable[[Client, str], object]:
        return lambda c, p: c.send(p, True, f"results-bomb-{label}", "GET",
                                   f"/results?key={q(h.result_key(label))}")  # fmt: skip

    def upload_bomb(label: str) -> Callable[[Client, str], object]:
        return lambda c, p: upload(c, p, True, f"upload-bomb-{label}", f"{label}.png",
                                   h.bombs[label])  # fmt: skip

    def event(c: Client, p: str) -> None:
        for kind in hi.BAD_EVENTS:
            body = json.dumps(h.next_event(kind)).encode()
            c.send(p, True, f"event-{kind}", "POST", "/classify_tflite", body,
                   {"Content-Type": "application/cloudevents+json"})  # fmt: skip

    def chunked(c: Client, p: str) -> int:
        """Sent from a process of its own, as an attacker's would be (see send_chunked)."""
        sender = [sys.executable, hi.__file__, str(c.port), str(CHUNKED_BYTES), str(TIMEOUT_S)]
        done = subprocess.run(sender, capture_output=True, text=True, check=True)
        sent = json.loads(done.stdout)
        c.rec.add(Sample(p, True, "upload-chunked-100MB", sent["status"], sent["seconds"]))
        return int(sent["status"])

    def many_parts(c: Client, p: str) -> int:
        fields = [(f"f{i}", "x") for i in range(FORM_PARTS)]
        return upload(c, p, True, f"form-{FORM_PARTS}-parts", *h.data.photos[0], fields)

    return [
        ("like-12", 5.0, like(12, "class1")),
        ("like-16", 10.0, like(16, "class2")),
        ("like-40", 15.0, like(40, "relation")),
        ("results-bomb-12k", 3.0, results_bomb("12k")),
        ("results-bomb-30k", 5.0, results_bomb("30k")),
        ("upload-bomb-12k", 5.0, upload_bomb("12k")),
        ("upload-bomb-30k", 5.0, upload_bomb("30k")),
        ("results-bomb-49mp", 5.0, results_bomb("49mp")),
        ("upload-bomb-49mp", 5.0, upload_bomb("49mp")),
        ("upload-eps", 5.0, lambda c, p: upload(c, p, True, "upload-eps", "x.eps", hi.EPS)),
        ("upload-chunked", 15.0, chunked),
        ("form-parts", 5.0, many_parts),
        ("events", 2.0, event),
    ]


def run_phase(name: str, seconds: float, port: int, data: Data, rec: Recorder,
              hostile: Hostile | None) -> None:  # fmt: skip
    stop_at = time.monotonic() + seconds

    def until_done(body: Callable[[], object], pause: float = 0.0) -> Callable[[], None]:
        def loop() -> None:
            while time.monotonic() < stop_at:
                try:
                    body()
                except Exception as exc:  # a bench bug in one client: count it, keep going
                    rec.note(f"bench: {type(exc).__name__}: {exc}")
                if pause:
                    time.sleep(min(pause, max(0.0, stop_at - time.monotonic())))

        return loop

    jobs: list[Callable[[], None]] = []
    for i in range(QUERY_CLIENTS):
        client, rnd = Client(port, rec), random.Random(f"q{i}")
        jobs.append(until_done(lambda c=client, r=rnd: c.send(name, False, *_get(data, r))))
    for i in range(UPLOADERS):
        client, rnd = Client(port, rec), random.Random(f"u{i}")
        jobs.append(until_done(lambda c=client, r=rnd: upload(c, name, False, "upload",
                                                              *r.choice(data.photos))))  # fmt: skip
    if hostile:
        h = hostile
        if h.only & {"files", "results-bomb"}:
            h.files.update(hi.drop_odd_files(h.bucket_dir, h.work / "outside", h.token,
                                             data.photos[0][1], h.bombs))  # fmt: skip
        if "files" in h.only:
            slow_name = f"{h.token}-slow-write"
            h.files[slow_name] = "file written slowly (10 pieces, 0.3 s apart)"
            jobs.append(lambda: hi.write_slowly(h.bucket_dir / f"{slow_name}.jpg",
                                                data.photos[0][1]))  # fmt: skip
        for kind, pause, action in hostile_actions(h):
            if any(kind.startswith(group) for group in h.only):
                client = Client(port, rec)
                jobs.append(until_done(lambda c=client, a=action: a(c, name), pause))
        for kind in ("trickle",) * 4 + ("idle",) * 4 if "slow" in h.only else ():
            jobs.append(until_done(lambda k=kind: h.slow.append(
                hi.slow_client(port, k, SLOW_HOLD_S, stop_at))))  # fmt: skip
    with ThreadPoolExecutor(len(jobs), thread_name_prefix=name) as pool:
        for job in jobs:
            pool.submit(job)


def _get(data: Data, rnd: random.Random) -> tuple[str, str, str]:
    kind, path = query_path(data, rnd)
    return kind, "GET", path


def warm_up(port: int, data: Data) -> None:
    """Every query kind and one upload once, so the model loads before the clean phase."""
    rec = Recorder()
    client = Client(port, rec)
    rnd = random.Random("warm")
    for _ in range(16):
        client.send("warm", False, *_get(data, rnd))
    upload(client, "warm", False, "upload", *data.photos[0])


# --- the accounting --------------------------------------------------------------------------


@dataclass
class Outcome:
    what: str
    rows: int
    drops: int
    lines: int  # every log line that names it

    @property
    def once(self) -> bool:
        return self.rows + self.drops == 1


def stored_rows(db: Path, work: Path) -> list[tuple[str, str, str]]:
    """(object, event_id, request_key) of every stored row, read from a copy of the stopped
    server's warehouse (a copy, so its write-ahead log is replayed whatever state it is in)."""
    import duckdb

    copy = work / "rows-copy"
    copy.mkdir(exist_ok=True)
    for suffix in ("", ".wal"):
        if Path(f"{db}{suffix}").exists():
            shutil.copyfile(f"{db}{suffix}", copy / f"w.duckdb{suffix}")
    with duckdb.connect(str(copy / "w.duckdb")) as con:
        try:
            found = con.execute("SELECT object, event_id, request_key FROM classifications")
        except duckdb.CatalogException:
            return []
        return [(o or "", e or "", k or "") for o, e, k in found.fetchall()]


def records(line: str) -> list[str]:
    """The JSON records of one log line (two when writes interleaved), or the line itself."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while at < len(line):
        try:
            obj, end = decoder.raw_decode(line, at)
        except ValueError:
            return [*found, line[at:]] if line[at:].strip() else found
        if not isinstance(obj, dict):
            return [*found, line[at:]]
        found.append(line[at:end])
        at = end
        while at < len(line) and line[at].isspace():
            at += 1
    return found


def account(h: Hostile, rows: list[tuple[str, str, str]], log: Path) -> list[Outcome]:
    lines = log.read_bytes().decode("utf-8", errors="replace").splitlines()
    tokens = {**{t: f"file: {w}" for t, w in h.files.items()},
              **{e: f"event: {k}" for e, k in h.event_ids.items()}}  # fmt: skip
    mentions: Counter[str] = Counter()
    drops: Counter[str] = Counter()
    for line in lines:
        for record in records(line):
            hit = [t for t in tokens if t in record]
            try:
                message = str(json.loads(record).get("message", ""))
            except (ValueError, AttributeError):  # not a JSON record (a traceback, a cut one)
                message = ""
            for t in hit:
                mentions[t] += 1
                drops[t] += bool(DROP_LINE.search(message))
    counts: Counter[str] = Counter()
    for obj, event_id, key in rows:
        for t in tokens:
            if t in event_id or (t in h.files and (t in obj or t in key)):
                counts[t] += 1
    return [Outcome(what, counts[t], drops[t], mentions[t]) for t, what in tokens.items()]


# --- the report ------------------------------------------------------------------------------


@dataclass
class PhaseStats:
    name: str
    samples: list[Sample]
    rss_peak: int
    others: Others
    seconds: float

    def of(self, hostile: bool) -> list[Sample]:
        return [s for s in self.samples if s.hostile == hostile]

    @property
    def ordinary_s(self) -> list[float]:
        """Every ordinary request's time; an unanswered one counts with its (timeout) time."""
        return [s.seconds for s in self.of(False)]

    def count_5xx(self, hostile: bool) -> int:
        return sum(s.status >= 500 for s in self.of(hostile))

    def unanswered(self, hostile: bool) -> int:
        """No answer in time; for an ordinary request, also a connection cut while sending."""
        return sum(s.status == 0 or (s.status < 0 and not hostile) for s in self.of(hostile))

    @property
    def max_s(self) -> float:
        return max((s.seconds for s in self.samples), default=math.nan)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "**FAIL**"


def phase_table(phases: list[PhaseStats]) -> str:
    lines = [
        "| phase | ordinary requests | answered/s | p50 ms | p95 ms | p99 ms | max ms (all) "
        "| 5xx ordinary | 5xx hostile | unanswered (ord. / host.) | hostile requests "
        "| RSS peak MB | other processes' CPU |",
        "| --- |" + " ---: |" * 12,
    ]
    for p in phases:
        o = p.ordinary_s
        lines.append(
            f"| {p.name} | {len(o)} | {sum(s.status > 0 for s in p.of(False)) / p.seconds:.1f} "
            f"| {ms(percentile(o, 50))} | {ms(percentile(o, 95))} | {ms(percentile(o, 99))} "
            f"| {ms(p.max_s)} | {p.count_5xx(False)} | {p.count_5xx(True)} "
            f"| {p.unanswered(False)} / {p.unanswered(True)} | {len(p.of(True))} "
            f"| {p.rss_peak / 2**20:.0f} | {p.others} |"
        )
    return "\n".join(lines)


def ordinary_table(phases: list[PhaseStats]) -> str:
    """Per kind of ordinary request and phase: answered, p50 and p99."""
    kinds = sorted({s.kind for p in phases for s in p.of(False)})
    lines = ["| ordinary request | " + " | ".join(f"{p.name}: n, p50 / p99 ms" for p in phases)
             + " |", "| --- |" + " ---: |" * len(phases)]  # fmt: skip
    for kind in kinds:
        cells = []
        for p in phases:
            got = [s.seconds for s in p.of(False) if s.kind == kind]
            cells.append(f"{len(got)}, {ms(percentile(got, 50))} / {ms(percentile(got, 99))}")
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def kinds_table(phase: PhaseStats) -> str:
    """Per kind of hostile request: how many, their answers, the slowest."""
    by: dict[str, list[Sample]] = {}
    for s in phase.of(True):
        by.setdefault(s.kind, []).append(s)
    lines = ["| hostile request | sent | answers (status: count) | max ms |",
             "| --- | ---: | --- | ---: |"]  # fmt: skip
    for kind, got in sorted(by.items()):
        answers = Counter({0: "no answer", -1: "cut off"}.get(s.status, str(s.status)) for s in got)
        shown = ", ".join(f"{k}: {n}" for k, n in sorted(answers.items()))
        lines.append(f"| {kind} | {len(got)} | {shown} | {ms(max(s.seconds for s in got))} |")
    return "\n".join(lines)


def outcome_table(outcomes: list[Outcome]) -> str:
    by: dict[str, list[Outcome]] = {}
    for o in outcomes:
        by.setdefault(o.what, []).append(o)
    lines = ["| dropped | n | exactly one outcome | no outcome | two or more | rows | logged drops "
             "| log lines naming it (max) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for what, got in by.items():
        lines.append(
            f"| {what} | {len(got)} | {sum(o.once for o in got)} "
            f"| {sum(o.rows + o.drops == 0 for o in got)} "
            f"| {sum(o.rows + o.drops > 1 for o in got)} "
            f"| {sum(o.rows for o in got)} | {sum(o.drops for o in got)} "
            f"| {max(o.lines for o in got)} |"
        )
    return "\n".join(lines)


def slow_line(slow: list[hi.SlowOutcome]) -> str:
    parts = []
    for kind in ("trickle", "idle"):
        got = [s for s in slow if s.kind == kind]
        if not got:
            continue
        closed = [s for s in got if s.closed_by_server]
        answers = Counter(s.answer for s in got if s.answer)
        held = (
            f", the server closed {len(closed)} (after {min(s.held_s for s in closed):.1f}-"
            f"{max(s.held_s for s in closed):.1f} s)"
            if closed
            else ", the server closed none"
        )
        parts.append(
            f"{len(got)} `{kind}` sockets held up to {SLOW_HOLD_S:.0f} s each{held}"
            + (f"; answers: {dict(answers)}" if answers else "")
        )
    return "; ".join(parts) or "none"


def judge(clean: PhaseStats, hostile: PhaseStats, outcomes: list[Outcome],
          ) -> list[tuple[str, str, str, bool]]:  # fmt: skip
    fives = sum(p.count_5xx(h) for p in (clean, hostile) for h in (False, True))
    unanswered = sum(p.unanswered(h) for p in (clean, hostile) for h in (False, True))
    slowest_ordinary = max(max(p.ordinary_s, default=0.0) for p in (clean, hostile))
    hostile_s = [x.seconds for x in hostile.of(True)]
    slowest_hostile = max(hostile_s, default=0.0)
    kind = max(hostile.of(True), key=lambda x: x.seconds).kind if hostile_s else "none"
    p99c, p99h = percentile(clean.ordinary_s, 99), percentile(hostile.ordinary_s, 99)
    rss = max(clean.rss_peak, hostile.rss_peak)
    bad = [o for o in outcomes if not o.once]
    return [
        ("5xx (and unanswered requests), both phases", f"{fives} ({unanswered} unanswered)", "0",
         fives == 0 and unanswered == 0),
        ("slowest ordinary request, both phases", f"{ms(slowest_ordinary)} ms",
         f"≤ {TARGET_MAX_S * 1000:.0f} ms", slowest_ordinary <= TARGET_MAX_S),
        (f"slowest hostile request ({kind})", f"{ms(slowest_hostile)} ms",
         f"≤ {TARGET_MAX_S * 1000:.0f} ms", slowest_hostile <= TARGET_MAX_S),
        ("p99 ordinary, hostile / clean", f"{ms(p99h)} / {ms(p99c)} ms = {p99h / p99c:.1f}x",
         f"≤ {TARGET_P99_RATIO:.0f}x", p99h <= TARGET_P99_RATIO * p99c),
        ("server RSS peak", f"{rss / 2**20:.0f} MB", f"≤ {TARGET_RSS / 2**20:.0f} MB",
         rss <= TARGET_RSS),
        ("dropped files and events with zero or 2+ outcomes", f"{len(bad)} of {len(outcomes)}",
         "0 (each: one row or one logged drop)", not bad and bool(outcomes)),
    ]  # fmt: skip


def commit() -> str:
    """The checked-out commit, and whether files other than BENCHMARKS.md differ from it."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout

    changed = git("status", "--porcelain", "-uno", "--", ".", ":!BENCHMARKS.md").strip()
    return git("log", "-1", "--format=%h (%cs)").strip() + (
        " with uncommitted changes" if changed else ""
    )


# --- main ------------------------------------------------------------------------------------


def measure(seconds: float, settle: float, only: frozenset[str], assets: Path, work: Path) -> str:
    data = Data.load(assets)
    env = bench_env(work / "data", assets)
    import_demo(env, work)
    # two over the pixel limit, and one just under it (legal, but heavy to decode)
    bombs = {"12k": hi.bomb_png(12000, 12000), "30k": hi.bomb_png(30000, 30000),
             "49mp": hi.bomb_png(7000, 7000)}  # fmt: skip
    rec = Recorder()
    log = work / "serve.log"
    phases: list[PhaseStats] = []
    token = f"hb{os.getpid()}"
    with serving(env, work, log) as (base, pgid):
        port = int(base.rsplit(":", 1)[1])
        sampler = RssSampler(pgid)
        sampler.start()
        try:
            warm_up(port, data)
            h = Hostile(port, data, "local-bucket", work / "data" / "bucket", work, token,
                        bombs, only)  # fmt: skip
            for name, hostile in (("clean", None), ("hostile", h)):
                print(f"{name} phase, {seconds:g} s ...", file=sys.stderr)
                sampler.phase = name
                cpu0, (busy0, _s), own0, t0 = cpu_seconds(pgid), machine_busy(), own_cpu(), \
                    time.monotonic()  # fmt: skip
                run_phase(name, seconds, port, data, rec, hostile)
                wall = time.monotonic() - t0
                others = Others(machine_busy()[0] - busy0, cpu_seconds(pgid) - cpu0
                                + own_cpu() - own0, 0.0, wall)  # fmt: skip
                phases.append(PhaseStats(name, [s for s in rec.samples if s.phase == name],
                                         sampler.peaks.get(name, 0), others, seconds))  # fmt: skip
            sampler.phase = "settle"
            print(f"settling {settle:g} s ...", file=sys.stderr)
            time.sleep(settle)
        finally:
            sampler.stop()
    outcomes = account(h, stored_rows(work / "data" / "warehouse.duckdb", work), log)
    clean, hostile_stats = phases
    judged = judge(clean, hostile_stats, outcomes)
    cores = len(os.sched_getaffinity(0))
    load = os.getloadavg()
    parts = [
        f"Overall: {verdict(all(ok for *_x, ok in judged))}.",
        "",
        "| target | value | limit | verdict |",
        "| --- | ---: | --- | --- |",
        *(f"| {n} | {v} | {t} | {verdict(ok)} |" for n, v, t, ok in judged),
        "",
        phase_table(phases),
        "",
        ordinary_table(phases),
        "",
        f"Peak RSS after the load (settling): {sampler.peaks.get('settle', 0) / 2**20:.0f} MB; "
        f"load average at the end {load[0]:.2f} on {cores} cores.",
        f"Slow clients (hostile phase): {slow_line(h.slow)}.",
        "",
        "Hostile requests (hostile phase):",
        "",
        kinds_table(hostile_stats),
        "",
        "Dropped files and events, and how each ended (rows in `classifications`, read from "
        "the stopped server's warehouse; log lines of the server naming it, of which "
        f"`{DROP_LINE.pattern}` in the message counts as a logged drop):",
        "",
        outcome_table(outcomes),
    ]
    if rec.errors:
        failures = ", ".join(f"{k}: {n}" for k, n in rec.errors.most_common(12))
        parts += ["", f"Client-side failures and retries (what: count): {failures}."]
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each phase")
    parser.add_argument("--settle", type=float, default=10.0,
                        help="after the hostile phase, time for the watcher to finish")  # fmt: skip
    parser.add_argument("--assets", type=Path, default=None,
                        help="default: $OIE_ASSETS or ../shared/assets")  # fmt: skip
    parser.add_argument(
        "--only",
        default=",".join(GROUPS),
        help=f"hostile groups to fire, comma-separated (default all: {GROUPS})",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work dir (log, data)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md")
    args = parser.parse_args()
    only = frozenset(g.strip() for g in args.only.split(",") if g.strip())
    if only - set(GROUPS):
        parser.error(f"unknown groups {sorted(only - set(GROUPS))}; known: {GROUPS}")
    assets = (args.assets or Path(os.environ.get("OIE_ASSETS") or ROOT.parent / "shared" / "assets")
              ).resolve()  # fmt: skip
    load = os.getloadavg()
    cores = len(os.sched_getaffinity(0))
    command = " ".join(["python tests/bench/hostile_bench.py", *sys.argv[1:]])
    idle = "idle" if load[0] < 0.25 * cores else "**busy**"
    head = [
        "<!-- bench:hostile:start -->",
        "## Hostile input and faults (local stack)",
        "",
        f"`{command}` on {datetime.date.today().isoformat()}; {machine()}.",
        f"Commit {commit()}. Load average at start {load[0]:.2f} / {load[1]:.2f} / "
        f"{load[2]:.2f} on {cores} cores: the machine was {idle}.",
        f"Two phases of {args.seconds:g} s against one `oie serve` (demo data): clean, "
        f"{QUERY_CLIENTS} query clients and {UPLOADERS} uploaders over keep-alive; hostile, "
        "the same plus hostile requests (below) and 8 slow clients. Ordinary requests are the "
        f"queries and uploads; every request has a {TIMEOUT_S:.0f} s timeout (an unanswered "
        "one counts in the percentiles with its time, the timeout).",
        "",
        "How it is measured: latency is the client's wall time per request (the bench runs on "
        "the same cores as the server; its clients' own CPU shows in the figures). Queries are "
        "drawn from the course CSVs (class names, image ids, relation types, LIKE patterns a "
        "user writes), half as JSON; uploads post one of the assets' photos. In the hostile "
        "phase each hostile kind runs on a client of its own, one request every 2-15 s; the "
        "bombs (1-bit PNGs) and odd files are dropped into the bucket folder at its start. "
        "RSS: VmRSS summed over the server's process group every 100 ms. Outcomes: after the "
        "server stopped, rows of `classifications` whose object or event id names the file or "
        "event, plus server log lines naming it whose message says `drop`.",
        "",
    ]
    if only != set(GROUPS):
        head.insert(-1, f"Hostile groups fired: {', '.join(sorted(only))} (not all).")
    tmp = Path(tempfile.mkdtemp(prefix="oie-hostile-bench-"))
    try:
        body = measure(args.seconds, args.settle, only, assets, tmp)
    finally:
        if args.keep:
            print(f"work dir (kept): {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    text = "\n".join(head) + "\n" + body + "\n\n<!-- bench:hostile:end -->\n"
    print(text)
    if not args.no_write:
        write_section("hostile", text)
        print(f"wrote the hostile section of {BENCH_MD}", file=sys.stderr)


if __name__ == "__main__":
    main()
