"""What each page asks of BigQuery, before and after short-query mode, in one run.

Both versions of the project serve the same pages through the real google-cloud-bigquery
client, whose HTTP session is `tests.support.bigquery_rest.FakeBigQuery` (answering from
DuckDB, so no cloud is needed). "Before" is the project as of BASELINE, extracted with
`git archive`; "after" is the working tree. For each page: the statements sent (each one
a job unless sent in short-query mode, `jobCreationMode: JOB_CREATION_OPTIONAL`), and the
function's CPU per page with a warm catalog: the page's thread CPU less what the fake
spent answering, the least over REPEAT requests and ROUNDS rounds that alternate the two
versions (this machine's neighbours only ever add CPU time). Then four classify events
with distinct keys, with 0.3 s of latency on each "already classified?" query, as a
BigQuery job has (the median of the rounds).

    .venv/bin/python tests/bench/bigquery_bench.py      # make bench-bigquery
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BASELINE = "d231c83"  # the last commit before typed parameters and short-query mode
REPEAT = 40
ROUNDS = 5
SEEN_LATENCY_S = 0.3
PAGES = [
    "/classes",
    "/relations",
    "/image_info?image_id=0041c772f8b9aef6",
    "/image_search?description=Man",
    "/image_search?description=Man&after=8000000000000000",
    "/image_search_multiple?descriptions=Cat,Dog",
    "/image_search_multiple?descriptions=Man,Guitar,Table",
    "/image_search_multiple?descriptions=Man,Guitar&mode=all",
    "/relation_search?class1=Man&relation=plays&class2=%25",
    "/results",
    "/results?key=b/o3%231",
]


def _fresh_clients() -> Any:
    """The version's clients made anew from the environment; returns its warehouse."""
    try:
        from oie import adapters  # the baseline's service locator
    except ImportError:
        from oie.app import App, install
        from oie.settings import Settings

        app = App(Settings.from_env())
        install(app)
        return app.warehouse
    adapters.reset()
    return adapters.warehouse()


def worker(database: str) -> dict[str, Any]:
    """Runs inside one version's interpreter: `oie` is that version's package."""
    import gc
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import sqlglot
    from werkzeug.test import Client

    from oie.local.host import create_host
    from oie.pipeline import runner
    from oie.pipeline.events import for_object
    from tests.support.bigquery_rest import FakeBigQuery, patch_client

    parses = {"n": 0}
    real_parse = sqlglot.parse_one

    def counting_parse(*args: Any, **kwargs: Any) -> Any:
        if sys._getframe(1).f_globals.get("__name__", "").startswith("oie"):
            parses["n"] += 1
        return real_parse(*args, **kwargs)

    sqlglot.parse_one = counting_parse  # type: ignore[assignment]

    os.environ.update(OIE_WAREHOUSE="bigquery", OIE_BQ_PROJECT="oie-bench")
    fake = FakeBigQuery(database, None, project="oie-bench")
    out: dict[str, Any] = {"pages": {}}
    with patch_client(fake):
        warehouse = _fresh_clients()
        client = Client(create_host())
        for url in PAGES:
            sep = "&" if "?" in url else "?"
            assert client.get(url + sep + "format=json").status_code == 200, url  # warm
            cpu, jobs, jobless = [], 0, 0
            parses["n"] = 0
            gc.collect()
            gc.disable()  # a collection would land on whichever request runs into it
            for _ in range(REPEAT):
                fake.reset()
                start = time.thread_time()
                client.get(url + sep + "format=json")
                spent = time.thread_time() - start
                calls = fake.queries()
                cpu.append(spent - sum(c.cpu_s for c in fake.calls))
                jobs, jobless = len(calls), sum(c.jobless for c in calls)
            gc.enable()
            out["pages"][url] = {
                "statements": jobs, "jobless": jobless, "cpu_ms": min(cpu) * 1000,
                "sqlglot_parses": parses["n"] / REPEAT,
            }  # fmt: skip

        class Labels:
            model = "bench"

            def classify(self, data: bytes, min_confidence: float = 0.0,
                         top_k: int | None = None) -> tuple[Any, ...]:  # fmt: skip
                return ()

        def slow_seen(sql: str) -> None:
            if sql.startswith("SELECT status FROM") and "LIMIT 1" in sql:  # the runner's check
                time.sleep(SEEN_LATENCY_S)

        fake.on_query = slow_seen
        run = runner.Runner("tflite", Labels, lambda request: b"", warehouse)
        run.handle(for_object("b", "warm", "1"))  # the table check, once
        events = [for_object("b", f"c{i}-{threading.get_ident()}", "1") for i in range(4)]
        start = time.perf_counter()
        with ThreadPoolExecutor(4) as pool:
            done = list(pool.map(run.handle, events))
        out["four_events_s"] = time.perf_counter() - start
        assert done == ["ok"] * 4, done
    return out


def prepare(folder: Path) -> Path:
    """A DuckDB file with the course data and a few classifications, made by today's code."""
    sys.path.insert(0, str(ROOT / "shared"))
    from oie.dataset.importer import import_files
    from oie.pipeline.events import for_object
    from oie.pipeline.runner import Runner
    from oie.warehouse.duckdb_adapter import DuckDBWarehouse

    assets = Path(os.environ.get("OIE_ASSETS") or ROOT.parent / "shared" / "assets")
    data = assets / "openimages"
    path = folder / "bench.duckdb"
    wh = DuckDBWarehouse(path)
    import_files(wh, {"classes": data / "classes.csv", "image_labels": data / "image-labels.csv",
                      "relations": data / "relations.csv"})  # fmt: skip

    class Labels:
        model = "bench"

        def classify(self, data: bytes, min_confidence: float = 0.0, top_k: int | None = None
                     ) -> tuple[Any, ...]:  # fmt: skip
            return ()

    run = Runner("tflite", Labels, lambda request: b"", wh)
    logging.disable(logging.INFO)
    for i in range(20):
        run.handle(for_object("b", f"o{i}", "1"))
    wh.close()
    return path


def baseline_tree(folder: Path) -> Path:
    command = ["git", "-C", str(ROOT), "archive", BASELINE, "shared", "infra", "functions"]
    archive = subprocess.run(command, check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder / "shared"


def run_version(shared: Path, database: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": f"{shared}{os.pathsep}{ROOT}"}
    env.pop("OIE_BQ_ENDPOINT", None)
    done = subprocess.run(
        [sys.executable, __file__, "--worker", str(database)],
        capture_output=True, text=True, env=env, cwd=shared.parent,
    )  # fmt: skip
    if done.returncode:
        raise SystemExit(f"the benchmark of {shared} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(before: dict[str, Any], after: dict[str, Any]) -> str:
    lines = [
        "| page | statements before / after | jobless-eligible before / after | sqlglot parses "
        "before / after | function CPU ms before / after | ratio |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for url in PAGES:
        b, a = before["pages"][url], after["pages"][url]
        lines.append(
            f"| `{url}` | {b['statements']} / {a['statements']} | "
            f"{b['jobless']} / {a['jobless']} | "
            f"{b['sqlglot_parses']:g} / {a['sqlglot_parses']:g} | "
            f"{b['cpu_ms']:.2f} / {a['cpu_ms']:.2f} | {b['cpu_ms'] / a['cpu_ms']:.1f}x |"
        )
    total_b = sum(p["cpu_ms"] for p in before["pages"].values())
    total_a = sum(p["cpu_ms"] for p in after["pages"].values())
    lines.append(f"| all pages | | | | {total_b:.1f} / {total_a:.1f} | {total_b / total_a:.1f}x |")
    lines.append("")
    lines.append(
        f'Four classify events with distinct keys, {SEEN_LATENCY_S} s per "already '
        f'classified?" query: {before["four_events_s"]:.2f} s before, '
        f"{after['four_events_s']:.2f} s after."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", metavar="DUCKDB", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        database = prepare(folder)
        old = baseline_tree(folder / "before")
        runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
        for _ in range(ROUNDS):  # alternated, so both see the same machine
            runs["before"].append(run_version(old, database))
            runs["after"].append(run_version(ROOT / "shared", database))
    print(report(combine(runs["before"]), combine(runs["after"])))


def combine(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The least CPU seen per page over the rounds (noise only adds), the median wall time."""
    out = dict(runs[0])
    out["four_events_s"] = statistics.median(r["four_events_s"] for r in runs)
    out["pages"] = {
        url: {**page, "cpu_ms": min(r["pages"][url]["cpu_ms"] for r in runs)}
        for url, page in runs[0]["pages"].items()
    }
    return out


if __name__ == "__main__":
    main()
