"""The explorer against the peer a user would pick instead: Datasette over SQLite, on the
same generated data, indexed as a capable user would index it, with canned queries of the
seed's semantics. Both servers run at once and answer the same cases as `run.py` (its plain
pages, no facets), round by round, alternating; every page is checked equal (the same
ImageIds in the same order). Writes the peer section of BENCHMARKS.md.

    .venv/bin/python tests/bench/peer_bench.py --scale full
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin

import duckdb
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate import ROOT, generate
from report import machine, write_section
from run import (
    MOST_COMMON,
    Case,
    data_counts,
    free_port,
    percentile,
    pick_cases,
    run_ours,
    wait_for,
)
from run import server as our_server

DATASETTE = ROOT / ".venv-peer" / "bin" / "datasette"
TARGET_RATIO = 1.2  # peer / ours, at p50 and at p95, on every page
# A row whose peer pages take seconds is timed in the first MIN_ROUNDS rounds, and then only
# while its peer time stays under this budget (ours are timed every round).
MIN_ROUNDS = 1
PEER_ROW_BUDGET_MS = 60_000.0
ROWS = ("classes", "relations", "image_info", "image_search", "image_search_multiple (any)",
        "image_search_multiple (all)", MOST_COMMON, "relation_search")  # fmt: skip
BATCH = 200_000  # rows copied from DuckDB to SQLite at a time
SCHEMA_VERSION = "1"  # bump when the SQLite file's tables or indexes change

DDL = """
CREATE TABLE classes (Label TEXT, Description TEXT);
CREATE TABLE image_labels (ImageId TEXT, Label TEXT);
CREATE TABLE relations (ImageId TEXT, Label1 TEXT, Relation TEXT, Label2 TEXT);
"""
# The indexes a capable user would make for these queries, then ANALYZE.
INDEXES = """
CREATE INDEX image_labels_label_image ON image_labels (Label, ImageId);
CREATE INDEX image_labels_image ON image_labels (ImageId);
CREATE INDEX relations_image ON relations (ImageId);
CREATE INDEX relations_relation ON relations (Relation);
CREATE INDEX relations_label1 ON relations (Label1);
CREATE INDEX relations_label2 ON relations (Label2);
CREATE INDEX classes_description ON classes (Description);
CREATE INDEX classes_label ON classes (Label);
ANALYZE;
"""

# Canned queries: the seed's statements (tests/bench/seed_sql.py) with named parameters.
# Pages are LIMIT/OFFSET, as the seed's; a name not given to a multiple search is ''.
# Datasette passes every parameter as text: a count compared with one is CAST.
QUERIES = {
    "classes": """SELECT Description, COUNT(*) AS NumImages
        FROM image_labels JOIN classes USING (Label)
        GROUP BY Description ORDER BY Description LIMIT :limit OFFSET :offset""",
    "relations": """SELECT Relation, COUNT(*) AS NumImages
        FROM relations GROUP BY Relation ORDER BY Relation""",
    "image_labels": """SELECT Description FROM image_labels JOIN classes USING (Label)
        WHERE ImageId = :image_id ORDER BY Description""",
    "image_relations": """SELECT c1.Description AS Class1, Relation, c2.Description AS Class2
        FROM relations
        JOIN classes AS c1 ON c1.Label = relations.Label1
        JOIN classes AS c2 ON c2.Label = relations.Label2
        WHERE ImageId = :image_id ORDER BY c1.Description, Relation, c2.Description""",
    "image_search": """SELECT ImageId FROM image_labels JOIN classes USING (Label)
        WHERE Description = :description ORDER BY ImageId LIMIT :limit OFFSET :offset""",
    "image_search_any": """SELECT ImageId, COUNT(*) AS Matched,
            group_concat(Description) AS Descriptions
        FROM image_labels JOIN classes USING (Label)
        WHERE Description IN (:d1, :d2, :d3)
        GROUP BY ImageId ORDER BY Matched DESC, ImageId LIMIT :limit OFFSET :offset""",
    "image_search_all": """SELECT ImageId, COUNT(*) AS Matched,
            group_concat(Description) AS Descriptions
        FROM image_labels JOIN classes USING (Label)
        WHERE Description IN (:d1, :d2, :d3)
        GROUP BY ImageId HAVING COUNT(*) = CAST(:n AS INTEGER)
        ORDER BY ImageId LIMIT :limit OFFSET :offset""",
    "relation_search": """SELECT ImageId, c1.Description AS Class1, Relation,
            c2.Description AS Class2
        FROM relations
        JOIN classes AS c1 ON c1.Label = relations.Label1
        JOIN classes AS c2 ON c2.Label = relations.Label2
        WHERE c1.Description LIKE :class1 AND Relation LIKE :relation
          AND c2.Description LIKE :class2
        ORDER BY ImageId LIMIT :limit OFFSET :offset""",
}


@dataclass
class Peer:
    """A case's pages on the peer: the requests each page makes, and what they took."""

    case: Case
    requests: list[list[tuple[str, dict[str, str]]]]  # per page: (query, parameters)
    ms: list[float] = field(default_factory=list)


# -- the SQLite file ----------------------------------------------------------------------


def build_sqlite(source: Path) -> Path:
    """The raw tables of `source` in SQLite with the peer's indexes, beside it; kept while
    `source` is unchanged."""
    target = source.with_suffix(".sqlite")
    with duckdb.connect(str(source), read_only=True) as src:  # the generated raw data's identity
        meta = src.execute("SELECT key, value FROM bench_meta WHERE key <> 'derived' "
                           "ORDER BY key").fetchall()  # fmt: skip
    stamp = f"{SCHEMA_VERSION}:{meta}"
    uri = f"file:{target}?mode=ro"
    with contextlib.suppress(sqlite3.Error, TypeError), \
            contextlib.closing(sqlite3.connect(uri, uri=True)) as con:  # fmt: skip
        if con.execute("SELECT stamp FROM built").fetchone()[0] == stamp:
            return target
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    started = time.monotonic()
    with duckdb.connect(str(source), read_only=True) as src, \
            contextlib.closing(sqlite3.connect(partial)) as dst:  # fmt: skip
        dst.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + DDL)
        for table, width in (("classes", 2), ("image_labels", 2), ("relations", 4)):
            result = src.execute(f"SELECT * FROM {table}")
            insert = f"INSERT INTO {table} VALUES ({', '.join('?' * width)})"
            copied = 0
            while rows := result.fetchmany(BATCH):
                dst.executemany(insert, rows)
                copied += len(rows)
                print(f"\r  {table}: {copied:,} rows", end="", flush=True)
            print(flush=True)
        dst.commit()
        print("  indexes and ANALYZE", flush=True)
        dst.executescript(INDEXES)
        dst.execute("CREATE TABLE built (stamp TEXT)")
        dst.execute("INSERT INTO built VALUES (?)", (stamp,))
        dst.commit()
    partial.replace(target)
    print(f"  built {target} ({target.stat().st_size / 2**30:.1f} GiB) in "
          f"{time.monotonic() - started:.0f} s", flush=True)  # fmt: skip
    return target


# -- Datasette ----------------------------------------------------------------------------


@contextlib.contextmanager
def datasette(database: Path, log: Path) -> Iterator[str]:
    """Datasette serving `database` (immutable) with the canned queries, until the block ends."""
    if not DATASETTE.exists():
        raise SystemExit(f"{DATASETTE} is missing: run tests/support/install-datasette.sh")
    port = free_port()
    metadata = {"databases": {database.stem: {"queries": QUERIES}}}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(metadata, f)
    settings = ["--setting", "sql_time_limit_ms", "60000", "--setting", "max_returned_rows",
                "1000"]  # fmt: skip
    command = [str(DATASETTE), "serve", "-i", str(database), "-m", f.name, "--port", str(port),
               *settings]  # fmt: skip
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(proc, f"{base}/-/versions.json", log, "datasette", 120)
        yield f"{base}/{database.stem}/"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        os.unlink(f.name)


def peer_requests(case: Case) -> list[list[tuple[str, dict[str, str]]]]:
    """Each of the case's pages (as our server returned them) as canned-query requests."""
    pages = []
    for page, args in enumerate(case.args):
        limit = int(args.get("image_limit", args.get("limit", "10")))
        paged = {"limit": str(limit), "offset": str(page * limit)}
        if case.function == "classes":
            limit = int(args.get("limit", "1000"))
            pages.append([("classes", {"limit": str(limit), "offset": str(page * limit)})])
        elif case.function == "relations":
            pages.append([("relations", {})])
        elif case.function == "image_info":
            image = {"image_id": args["image_id"]}
            pages.append([("image_labels", image), ("image_relations", image)])
        elif case.function == "image_search":
            pages.append([("image_search", {"description": args["description"], **paged})])
        elif case.function == "image_search_multiple":
            names = args["descriptions"].split(",")
            named = {f"d{i + 1}": (names[i] if i < len(names) else "") for i in range(3)}
            if args.get("mode") == "all":
                pages.append([("image_search_all", {**named, "n": str(len(names)), **paged})])
            else:
                pages.append([("image_search_any", {**named, **paged})])
        elif case.function == "relation_search":
            patterns = {k: args.get(k, "%") for k in ("class1", "relation", "class2")}
            pages.append([("relation_search", {**patterns, **paged})])
        else:
            raise ValueError(case.function)
    return pages


def _ids(rows: list[dict]) -> list[str]:
    return [r["image_id"] for r in rows]


def differs(case: Case, ours: dict, answers: list[list[dict]]) -> str | None:
    """How our page and the peer's differ, if they do: the ImageIds in order (searches), the
    image's classes and relations (image_info). classes and relations pages are not compared:
    the seed counts label rows per name, ours images per class."""
    if case.function in ("image_search", "image_search_multiple"):
        mine, theirs = _ids(ours["images"]), [r["ImageId"] for r in answers[0]]
    elif case.function == "relation_search":
        mine, theirs = _ids(ours["relations"]), [r["ImageId"] for r in answers[0]]
    elif case.function == "image_info":
        mine = [sorted(c["description"] for c in ours["classes"]),
                sorted((r["class1"]["description"], r["relation"], r["class2"]["description"])
                       for r in ours["relations"])]  # fmt: skip
        theirs = [sorted(r["Description"] for r in answers[0]),
                  sorted((r["Class1"], r["Relation"], r["Class2"])
                         for r in answers[1])]  # fmt: skip
    else:
        return None
    return None if mine == theirs else f"ours {str(mine)[:200]}, Datasette's {str(theirs)[:200]}"


def run_peer(base: str, peer: Peer, http: requests.Session) -> list[list[dict]]:
    """The case's pages on the peer once, timed; returns each page's answers."""
    pages = []
    for asked in peer.requests:
        started = time.perf_counter()
        answers = []
        for query, params in asked:
            response = http.get(urljoin(base, f"{query}.json"),
                                params={**params, "_shape": "array"}, timeout=120)  # fmt: skip
            if response.status_code != 200:
                raise RuntimeError(f"{response.url}: {response.status_code} {response.text[:300]}")
            answers.append(response.json())
        peer.ms.append((time.perf_counter() - started) * 1000)
        pages.append(answers)
    return pages


def check(ours: str, theirs: str, peer: Peer, http: requests.Session) -> list[str]:
    """Warm-up: the case's pages on both (untimed); the pages that differ."""
    differ = []
    for page, answers in enumerate(run_peer(theirs, peer, http)):
        args = {**peer.case.args[page], "format": "json"}
        mine = http.get(urljoin(ours, f"/{peer.case.function}"), params=args, timeout=60).json()
        why = differs(peer.case, mine, answers)
        if why:
            differ.append(f"{peer.case.function}({peer.case.params}) page {page}: {why}")
    peer.ms.clear()
    return differ


# -- reporting ----------------------------------------------------------------------------


def _ms(value: float) -> str:
    return f"{value:.1f}" if value >= 1 else f"{value:.2f}"


def table(peers: list[Peer]) -> tuple[str, bool]:
    lines = [
        "| page | requests (Datasette / ours) | Datasette p50 / p95 ms | ours p50 / p95 ms "
        "| Datasette / ours p50 | Datasette / ours p95 | ≥ 1.2x at both |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    every = True
    for row in ROWS:
        theirs = [ms for p in peers if p.case.row == row for ms in p.ms]
        ours = [ms for p in peers if p.case.row == row for ms in p.case.ours]
        t50, t95 = statistics.median(theirs), percentile(theirs, 0.95)
        o50, o95 = statistics.median(ours), percentile(ours, 0.95)
        ok = t50 / o50 >= TARGET_RATIO and t95 / o95 >= TARGET_RATIO
        every &= ok
        lines.append(
            f"| {row} | {len(theirs)} / {len(ours)} | {_ms(t50)} / {_ms(t95)} "
            f"| {_ms(o50)} / {_ms(o95)} | {t50 / o50:.1f}x | {t95 / o95:.1f}x "
            f"| {'pass' if ok else '**FAIL**'} |"
        )
    return "\n".join(lines), every


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=("course", "full"), default="full")
    parser.add_argument("--requests", type=int, default=100, help="timed pages per row")
    args = parser.parse_args(argv)
    command = f"python tests/bench/peer_bench.py --scale {args.scale} --requests {args.requests}"
    load_before = os.getloadavg()[0]
    path = generate(args.scale)
    data = data_counts(path)
    print(f"{args.scale}: SQLite for the peer", flush=True)
    database = build_sqlite(path)
    cases = [c for c in pick_cases(path, data["images"]) if c.row in ROWS]
    differ: list[str] = []
    with our_server(path, path.with_suffix(".server.log")) as (ours, _proc), \
            datasette(database, path.with_suffix(".datasette.log")) as theirs, \
            requests.Session() as http:  # fmt: skip
        run_ours(ours, cases, None)  # warm-up; records each case's pages
        peers = [Peer(c, peer_requests(c)) for c in cases]
        for peer in peers:  # warm-up; checks the pages
            differ += check(ours, theirs, peer, http)
        per_round = {row: sum(c.fetched for c in cases if c.row == row) for row in ROWS}
        rounds = max(1, max(-(-args.requests // n) for n in per_round.values()))
        spent = dict.fromkeys(ROWS, 0.0)  # ms the peer took on each row
        load_start = os.getloadavg()[0]
        for round_ in range(rounds):
            print(f"\r  round {round_ + 1} of {rounds}", end="", flush=True)
            for peer in peers:
                row = peer.case.row
                if sum(len(p.case.ours) for p in peers if p.case.row == row) >= args.requests:
                    continue
                run_ours(ours, [peer.case], {row: 1})  # one round of ours, timed
                if round_ < MIN_ROUNDS or spent[row] < PEER_ROW_BUDGET_MS:
                    before = sum(peer.ms)
                    run_peer(theirs, peer, http)
                    spent[row] += sum(peer.ms) - before
        print(flush=True)
    shown, every = table(peers)
    size = database.stat().st_size / 2**30
    counts = ", ".join(f"{t} {data[t]:,}" for t in ("classes", "image_labels", "relations"))
    checked = sum(len(c.args) for c in cases if c.function not in ("classes", "relations"))
    agree = (f"Every search and image_info page of both equals the other's ({checked} pages: "
             "the same ImageIds in the same order; an image's same classes and relations)."
             if not differ else f"**Pages differ**: {'; '.join(differ)}.")  # fmt: skip
    host = machine(f"Datasette {_datasette_version()}", f"SQLite {sqlite3.sqlite_version}")
    text = f"""<!-- bench:peer:start -->
## Against the peer: Datasette over SQLite ({args.scale} scale)

`{command}` on {datetime.date.today().isoformat()}; {host}. Nothing else ran on the machine:
its 1-minute load average was {load_before:.2f} as the run began (the tail of earlier work) and
{load_start:.2f} when the timed rounds began (the two servers' warm-up).
Data: {counts} rows ({data["images"]:,} images), generated by `tests/bench/generate.py`;
the SQLite file is {size:.1f} GiB.

{shown}

{
        "Every page is at least 1.2x ahead at p50 and p95."
        if every
        else "**Not every page is 1.2x ahead.**"
    }
{agree}

Both servers run at once; each timed round asks every case's pages of ours, then the same
pages of Datasette's, sequentially, one client with keep-alive, after a warm-up pass of each.
A row whose peer pages take seconds (the most common classes) is timed on the peer in
the first round, and after it only while that row has taken the peer under
{PEER_ROW_BUDGET_MS / 1000:.0f} s: the request counts say how many.
Ours: `oie serve` on the DuckDB file and its key indexes (README, "How it is built"),
`format=json`, `facets=0`, following each page's `next` link. Datasette {
        _datasette_version()
    }: `datasette serve -i` (immutable) on the same data in
SQLite, `sql_time_limit_ms` 60000, with an index on image_labels (Label, ImageId) and
(ImageId), relations (ImageId), (Relation), (Label1), (Label2), classes (Description) and
(Label), then ANALYZE; canned queries of the seed's semantics (`QUERIES` in
`tests/bench/peer_bench.py`), `_shape=array`, a deep page by OFFSET; its image_info is its
two canned queries, timed together.
<!-- bench:peer:end -->
"""
    write_section("peer", text)
    print(shown)
    print(agree)
    return 0 if every and not differ else 1


def _datasette_version() -> str:
    done = subprocess.run([str(DATASETTE), "--version"], capture_output=True, text=True)
    return done.stdout.strip().rsplit(" ", 1)[-1]


if __name__ == "__main__":
    sys.exit(main())
