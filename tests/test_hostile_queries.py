"""Queries that could stall a server: hostile patterns, slow statements, a failing catalog."""

from __future__ import annotations

import json
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote, urlencode

import duckdb
import pytest
from werkzeug.test import Client

from oie.catalog import CachedCatalog, Catalog, ClassInfo
from oie.errors import problem
from oie.warehouse import QueryTimeout
from oie.warehouse.duckdb_adapter import DuckDBWarehouse
from tests.conftest import fresh_app
from tests.support.servers import free_port, running

OIE = Path(sys.executable).parent / "oie"
PROMPT = 2.0  # seconds: generous, a backtracking matcher takes minutes on these
# Every (row, number) pair is checked and none passes: seconds of CPU per million rows.
SLOW = """SELECT COUNT(*) AS n FROM range(100000000) AS a, range(1000) AS b
WHERE (a.range + b.range) % 1000003 = -1"""
HOSTILE = ["%" * 20 + "!", "%" * 100 + "!", "_%" * 50, "%_" * 60 + "!", "%a" * 70 + "%!"]


def get(url: str) -> tuple[int, dict, float]:
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            status, body = r.status, json.load(r)
    except urllib.error.HTTPError as exc:
        status, body = exc.code, json.load(exc)
    return status, body, time.perf_counter() - started


# -- patterns through `oie serve` -------------------------------------------------------


def test_hostile_patterns_answer_promptly_on_oie_serve(demo_env: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with running([str(OIE), "serve", "--port", str(port)], base + "/"):
        status, _, _ = get(f"{base}/relations?format=json")  # the catalog, loaded once
        assert status == 200
        urls = [
            f"{base}/relation_search?{urlencode({part: pattern, 'format': 'json'})}"
            for pattern in HOSTILE
            for part in ("class1", "relation", "class2")
        ]
        with ThreadPoolExecutor(8) as pool:  # as many at once as the server has threads
            answers = list(pool.map(get, urls))
        for url, (status, body, took) in zip(urls, answers, strict=True):
            assert status == 200, (url, body)
            assert took < PROMPT, f"{url} took {took:.1f} s"
            assert body["relations"] == [] and len(body["unmatched_patterns"]) == 1, url
        status, body, took = get(f"{base}/relation_search?class1={quote('%an')}&format=json")
        assert status == 200 and body["relations"] and took < PROMPT


# -- the time limit on warehouse queries ----------------------------------------------


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[DuckDBWarehouse]:
    wh = DuckDBWarehouse(tmp_path / "w.duckdb", timeout_s=1.0)
    yield wh
    wh.close()


def test_a_slow_query_is_stopped_at_the_limit(limited: DuckDBWarehouse) -> None:
    started = time.monotonic()
    with pytest.raises(QueryTimeout) as caught:
        limited.query(SLOW)
    took = time.monotonic() - started
    assert 1.0 <= took < 2.0, took
    answer = problem(caught.value, "test")
    assert answer.status == 503 and answer.retry_after
    assert answer.message == "Not available: the query took longer than 1 s and was stopped"
    assert limited.query("SELECT 1 AS one") == [{"one": 1}]  # the same cursor, still usable


def test_the_limit_stops_only_the_slow_query(limited: DuckDBWarehouse) -> None:
    """Threads share one connection through cursors: the others' queries go on."""
    slow: list[BaseException] = []

    def run_slow() -> None:
        try:
            limited.query(SLOW)
        except QueryTimeout as exc:
            slow.append(exc)

    thread = threading.Thread(target=run_slow)
    thread.start()
    answered = 0
    deadline = time.monotonic() + 1.5  # past the slow query's limit
    while time.monotonic() < deadline:
        rows = limited.query("SELECT SUM(range) AS s FROM range(200000)")
        assert rows == [{"s": 199999 * 200000 // 2}]
        answered += 1
    thread.join(5)
    assert len(slow) == 1 and answered > 10


def test_no_limit_when_none_is_set(tmp_path: Path) -> None:
    wh = DuckDBWarehouse(tmp_path / "w.duckdb")
    assert wh.query("SELECT COUNT(*) AS n FROM range(30000000) AS a, range(3) AS b") == [
        {"n": 90_000_000}
    ]
    wh.close()


def test_a_slow_page_is_a_503_and_the_server_goes_on(
    demo_env: Path, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relations table made slow: its page stops at OIE_QUERY_TIMEOUT_S, others answer."""
    with duckdb.connect(str(demo_env)) as con:
        con.execute("ALTER TABLE relations_by_image RENAME TO relations_fast")
        con.execute(
            "CREATE VIEW relations_by_image AS SELECT r.* FROM relations_fast AS r,"
            " range(100000000) AS t WHERE (t.range + r.ImageKey) % 1000003 = -1"
        )
    monkeypatch.setenv("OIE_QUERY_TIMEOUT_S", "1")
    fresh_app()
    started = time.monotonic()
    page = client.get("/relation_search?relation=plays&format=json")
    took = time.monotonic() - started
    assert page.status_code == 503 and page.headers["Retry-After"]
    assert "took longer than 1 s" in page.get_json()["error"], page.get_json()
    assert took < 2.5, took
    assert client.get("/classes?format=json").status_code == 200


# -- the catalog: one load, stale kept ------------------------------------------------


def catalog(name: str) -> Catalog:
    return Catalog((ClassInfo(name, name, 1, 1),), ())


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_first_load_is_one_load_everybody_waits_for() -> None:
    release, calls = threading.Event(), []

    def loader() -> Catalog:
        calls.append(1)
        release.wait(5)
        return catalog("first")

    cached = CachedCatalog(loader)
    with ThreadPoolExecutor(6) as pool:
        got = [pool.submit(cached.get) for _ in range(6)]
        time.sleep(0.2)
        assert not any(f.done() for f in got)  # nothing to give yet: all wait
        release.set()
        values = [f.result(5) for f in got]
    assert len(calls) == 1 and all(v is values[0] for v in values)


def test_a_refresh_is_done_once_and_nobody_waits_for_it() -> None:
    clock, started, release = Clock(), threading.Event(), threading.Event()
    versions = iter(["old", "new"])

    def loader() -> Catalog:
        version = next(versions)
        if version == "new":
            started.set()
            release.wait(5)
        return catalog(version)

    cached = CachedCatalog(loader, ttl=60, clock=clock)
    old = cached.get()
    clock.now = 61
    with ThreadPoolExecutor(1) as pool:
        refreshing = pool.submit(cached.get)  # this caller refreshes
        assert started.wait(5)
        t0 = time.monotonic()
        others = [cached.get() for _ in range(100)]  # the old one, at once
        assert time.monotonic() - t0 < 0.5
        assert all(o is old for o in others)
        release.set()
        new = refreshing.result(5)
    assert new.classes[0].label == "new" and cached.get() is new


def test_a_failed_refresh_keeps_the_old_catalog_and_backs_off(
    capsys: pytest.CaptureFixture[str],
) -> None:
    clock, calls = Clock(), []

    def loader() -> Catalog:
        calls.append(clock.now)
        if len(calls) in (2, 3):
            raise ConnectionError("the warehouse is down")
        return catalog(f"v{len(calls)}")

    cached = CachedCatalog(loader, ttl=60, clock=clock, retry_s=5)
    old = cached.get()
    clock.now = 61
    assert all(cached.get() is old for _ in range(50))  # one try, then the old one
    assert calls == [0, 61]
    warnings = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [w["severity"] for w in warnings] == ["WARNING"]
    assert "ConnectionError: the warehouse is down" in warnings[0]["error"]
    clock.now = 65  # within the backoff: no try
    assert cached.get() is old and len(calls) == 2
    clock.now = 66.5  # past it: one more try, failing; the next backoff is twice as long
    assert cached.get() is old and calls == [0, 61, 66.5]
    clock.now = 75
    assert cached.get() is old and len(calls) == 3
    clock.now = 77
    assert cached.get().classes[0].label == "v4"


def test_a_failed_first_load_raises_and_the_next_caller_tries_again() -> None:
    outcomes = iter([ConnectionError("down"), catalog("up")])

    def loader() -> Catalog:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    cached = CachedCatalog(loader)
    with pytest.raises(ConnectionError):
        cached.get()
    assert cached.get().classes[0].label == "up"


def test_pages_keep_the_old_catalog_when_it_cannot_be_reloaded(
    demo_env: Path, client: Client, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("OIE_CATALOG_TTL_S", "0")  # every request would reload it
    app = fresh_app()
    before = client.get("/relations?format=json").get_json()["relations"]
    assert before
    app.warehouse.query("ALTER TABLE relation_counts RENAME TO relation_counts_gone")
    capsys.readouterr()
    for _ in range(3):
        page = client.get("/relations?format=json")
        assert page.status_code == 200 and page.get_json()["relations"] == before
    logged = [json.loads(line) for line in capsys.readouterr().err.splitlines() if "{" in line]
    assert [w["message"] for w in logged if w["severity"] == "WARNING"] == [
        "the catalog could not be refreshed; the old one is kept"
    ]
