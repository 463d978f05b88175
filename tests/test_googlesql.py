"""Every statement the project sends to BigQuery, judged by GoogleSQL's own analyzer.

The real BigQuery adapter and google-cloud-bigquery client talk to `FakeBigQuery`, which
analyzes each statement with the parameter types exactly as the client put them on the
wire, then answers from DuckDB so the callers go on as they would (deep pages, tiers,
the pipeline's second delivery). Statements come from their real callers: every page with
ordinary and edge inputs, the catalog, the importer's derived tables, the classifier
pipeline and `results` with each filter, and `oie automl-csv`'s sampling.

Not SQL, so not analyzed here: load jobs (the importer and provisioning load CSVs with an
explicit schema), `tabledata.insertAll` (the classifiers' rows) and `tables.get` (row
counts). Provisioning sends no SQL of its own: it creates tables from `infra/schemas`
through the tables API and derives the rest with the adapter's `derive`, analyzed below.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import Client

from oie import catalog, explore, tables
from oie.app import current
from oie.dataset import automl
from oie.pipeline import results, runner
from oie.warehouse import ints, strings
from oie.warehouse.bigquery_adapter import BigQueryWarehouse, query_parameters
from tests.conftest import fresh_app

from .conftest import need
from .support import googlesql
from .support.bigquery_rest import FakeBigQuery, Fault, patch_client

pytestmark = pytest.mark.googlesql
PROJECT, DATASET = "oie-test", "openimages"


@pytest.fixture(scope="module")
def analyzer() -> googlesql.GoogleSQL:
    need(googlesql.available(), "no zetasql (pip install -e '.[dev]')")
    return googlesql.shared()


@pytest.fixture
def fake(analyzer: googlesql.GoogleSQL, demo_env: Path) -> Iterator[FakeBigQuery]:
    fake = FakeBigQuery(str(demo_env), analyzer, PROJECT, DATASET)
    with patch_client(fake):
        yield fake
    fake.close()


@pytest.fixture
def bq(fake: FakeBigQuery, monkeypatch: pytest.MonkeyPatch) -> BigQueryWarehouse:
    monkeypatch.setenv("OIE_WAREHOUSE", "bigquery")
    monkeypatch.setenv("OIE_BQ_PROJECT", PROJECT)
    monkeypatch.setenv("OIE_BQ_DATASET", DATASET)
    fresh_app()
    wh = current().warehouse
    assert isinstance(wh, BigQueryWarehouse)
    return wh


def refusals(fake: FakeBigQuery) -> str:
    return "\n\n".join(
        f"{sql}\n  params: {params}\n  -> {msg}" for sql, params, msg in fake.refused
    )


def sent(fake: FakeBigQuery) -> set[str]:
    return {c.body["query"] for c in fake.queries()}


def test_the_analyzer_refuses_what_bigquery_refuses(analyzer: googlesql.GoogleSQL) -> None:
    """The trap itself: an empty list typed as strings, against an INT64 column."""
    sql = "SELECT ImageKey FROM relations_by_image WHERE LabelId1 IN UNNEST(@ids)"
    as_strings = {
        "ids": googlesql.parameter_type({"type": "ARRAY", "arrayType": {"type": "STRING"}})
    }
    with pytest.raises(googlesql.Refused, match="No matching signature for operator IN UNNEST"):
        analyzer.analyze(sql, as_strings)
    as_ints = {"ids": googlesql.parameter_type({"type": "ARRAY", "arrayType": {"type": "INT64"}})}
    assert analyzer.analyze(sql, as_ints)
    with pytest.raises(googlesql.Refused, match="Unrecognized name"):
        analyzer.analyze("SELECT Nope FROM classes")


def test_list_parameters_carry_their_element_type() -> None:
    [empty, some] = [
        p.to_api_repr() for p in query_parameters({"a": ints([]), "b": strings(["x"])})
    ]
    assert empty["parameterType"] == {"type": "ARRAY", "arrayType": {"type": "INT64"}}
    assert some["parameterType"] == {"type": "ARRAY", "arrayType": {"type": "STRING"}}
    with pytest.raises(TypeError, match="element type"):
        query_parameters({"ids": []})  # type: ignore[dict-item]


def test_derived_tables(fake: FakeBigQuery, bq: BigQueryWarehouse) -> None:
    """The importer's and provisioning's CTAS statements, in order, each typed by the last."""
    for derived in tables.DERIVED:
        bq.derive(derived.name, derived.select, derived.order_by)
    assert not fake.refused, refusals(fake)
    assert len(fake.queries()) == len(tables.DERIVED)


PAGES = [
    "/classes", "/classes?limit=1&offset=600", "/relations",
    "/image_info?image_id=0041c772f8b9aef6", "/image_info?image_id=ffffffffffffffff",
    "/image_search?description=Man&image_limit=3", "/image_search?description=Cat",
    "/image_search?description=Nope", "/image_search?description=Man&before=8000000000000000",
    "/image_search?description=Man&after=ffffffffffffffff",
    "/image_search_multiple", "/image_search_multiple?descriptions=Man,Guitar,Table&image_limit=7",
    "/image_search_multiple?descriptions=Man,Table&mode=all&image_limit=3",
    "/image_search_multiple?descriptions=Man,Nope,Cat", "/image_search_multiple?descriptions=Nope",
    "/image_search_multiple?descriptions=Man,Girl&before=1-8000000000000000",
    "/relation_search", "/relation_search?class1=%25&relation=plays&class2=%25",
    "/relation_search?class1=%25%25&relation=%25&class2=%25",
    "/relation_search?class1=&relation=&class2=",
    "/relation_search?class1=M%25&relation=h_lds&class2=%25e", "/relation_search?class1=Nope%25",
    "/relation_search?relation=plays&image_limit=5&offset=100",
    "/results", "/results?classifier=tflite&status=ok&label=cat&min_score=0.5&prefix=up",
    "/results?since=2026-01-01&until=2026-02-01", "/results?key=b/o%231&limit=1&offset=5",
    "/results?label=&prefix=",
    "/class_info?description=Animal", "/class_info?label=/m/0bl9f", "/class_info?label=/m/zz",
    "/image_search?description=Animal&subclasses=1&image_limit=3",
    "/image_search?description=Entity&subclasses=1", "/image_search?description=Cat&subclasses=1",
    "/image_search?description=Animal&subclasses=1&before=8000000000000000",
    "/image_search_multiple?descriptions=Animal,Person&subclasses=1&mode=all",
    "/image_search_multiple?descriptions=Animal,Cat,Nope&subclasses=1",
]  # fmt: skip


def _walk(client: Client, url: str, key: str, steps: int) -> list[Any]:
    """Follow a page's `key` link (next or previous) up to `steps` times."""
    seen = []
    for _ in range(steps):
        body = client.get(url, headers={"Accept": "application/json"}).get_json()
        seen.append(body)
        url = body.get(key)
        if not url:
            break
    return seen


def test_every_page(fake: FakeBigQuery, bq: BigQueryWarehouse, host_app) -> None:  # type: ignore[no-untyped-def]
    client = Client(host_app)
    for url in PAGES:
        response = client.get(url, headers={"Accept": "application/json"})
        assert response.status_code < 500, (url, response.get_data(as_text=True))
    for url, key in [
        ("/image_search?description=Man&image_limit=50", "next"),
        ("/image_search?description=Man&image_limit=50&before=ffffffffffffffff", "previous"),
        ("/image_search_multiple?descriptions=Man,Guitar,Table&image_limit=40", "next"),
        ("/image_search_multiple?descriptions=Man,Guitar&image_limit=40&before=1-ffffffffffffffff",
         "previous"),
        ("/relation_search?image_limit=400", "next"),
        ("/image_search?description=Animal&subclasses=1&image_limit=40", "next"),
        ("/image_search?description=Animal&subclasses=1&image_limit=40&before=ffffffffffffffff",
         "previous"),
        ("/image_search_multiple?descriptions=Animal,Person&subclasses=1&image_limit=40", "next"),
        ("/image_search_multiple?descriptions=Animal,Person&subclasses=1&image_limit=40"
         "&before=1-ffffffffffffffff", "previous"),
    ]:  # fmt: skip
        assert len(_walk(client, url, key, 6)) > 2, url
    assert not fake.refused, refusals(fake)
    used = sent(fake)
    expected = {catalog.CATALOG_SQL, results.LATEST, *explore.QUERIES.values()} - SLICES
    assert expected <= used, f"never sent: {sorted(expected - used)}"
    assert not used & SLICES, "the slice-by-slice search is for DuckDB; BigQuery takes one pass"


# The slice-by-slice searches (several classes; a broad class with its subclasses): many
# small statements suit DuckDB, where each is a function call; BigQuery gets one-pass
# statements instead. They are still BigQuery SQL, so they are analyzed here with the
# parameters they are sent with.
SLICES = {
    explore.QUERIES[name]
    for name in explore.QUERIES
    if name.startswith(("multiple", "any_dense", "sample_dense", "matched"))
}


def test_duckdb_only_statements(analyzer: googlesql.GoogleSQL) -> None:
    params = {
        "labels": ints([3, 4]), "rare": ints([]), "keys": ints([]), "lo": 1, "hi": 2, "m": 1,
        "n": 10,
    }  # fmt: skip
    for sql in SLICES:
        wire = {p.name: p.to_api_repr()["parameterType"] for p in query_parameters(params)}
        names = {name for name in wire if f"@{name}" in sql}
        analyzer.analyze(sql, {n: googlesql.parameter_type(wire[n]) for n in names})


def test_pipeline_and_results(fake: FakeBigQuery, bq: BigQueryWarehouse, assets: Path) -> None:
    from oie.classify.classifier import Classifier
    from oie.classify.model import load_spec
    from oie.pipeline.events import for_image_id, for_object

    model = Classifier(load_spec(assets / "models" / "mobilenet_v1_0.25_128_quant.tflite"))
    photo = (assets / "images" / "parrot.jpg").read_bytes()
    run = runner.Runner("tflite", lambda: model, lambda request: photo, bq)
    assert run.handle(for_object("bucket", "a b/p.jpg", "3", event_id="e")) == "ok"
    assert run.handle(for_object("bucket", "a b/p.jpg", "3", event_id="e")) == "duplicate"
    assert run.handle(for_image_id("0041c772f8b9aef6", event_id="f")) == "ok"
    now = datetime.now(UTC)
    for filters in [
        results.Filters(),
        results.Filters(since=datetime(2020, 1, 1, tzinfo=UTC), until=now),
        results.Filters(key="bucket/a b/p.jpg#3", classifier="tflite", status="ok"),
        results.Filters(prefix="a b/", label="MAC", min_score=0.2),
        results.Filters(label="", min_score=1.0, status="rejected"),
    ]:
        rows, _ = results.latest(bq, filters, limit=10, offset=0)
        assert isinstance(rows, list)
    rows, _ = results.latest(bq, results.Filters(prefix="a b/"), limit=10)
    assert [r["object"] for r in rows] == ["a b/p.jpg"]
    assert not fake.refused, refusals(fake)
    assert {runner.SEEN, results.LATEST} <= sent(fake)
    # The table is created from its JSON (tables.insert), not from DDL.
    assert not [q for q in sent(fake) if q.startswith("CREATE TABLE")]
    [created] = [c.body for c in fake.calls if (c.method, c.path[-7:]) == ("POST", "/tables")]
    want = tables.spec(tables.CLASSIFICATIONS).resource
    assert created["schema"] == want["schema"]
    assert created["timePartitioning"] == {"type": "DAY", "field": "classified_at"}


def test_automl_sampling(fake: FakeBigQuery, bq: BigQueryWarehouse) -> None:
    known = catalog.load_catalog(bq)
    classes = automl.resolve(known, ["Man", "Guitar", "Table"])
    plan = automl.plan(bq, classes, per_class=20, split=(80, 10, 10), seed=1)
    assert plan.rows
    labels = automl.image_labels(bq, known, plan)  # --labels
    assert {i for i, _label in labels} == {r[1].rsplit("/", 1)[1][:16] for r in plan.rows}
    assert not fake.refused, refusals(fake)
    assert {automl.CLASS_KEYS, automl.IMAGE_LABELS} <= sent(fake)


def _walk_tree(node: Any, kind: str) -> Iterator[Any]:
    """Every node of a resolved tree whose class is `kind`, depth first."""
    if type(node).__name__ == kind:
        yield node
    if isinstance(node, list):
        for item in node:
            yield from _walk_tree(item, kind)
    elif hasattr(node, "__dataclass_fields__"):
        for name in node.__dataclass_fields__:
            yield from _walk_tree(getattr(node, name), kind)


def _columns(node: Any) -> set[str]:
    return {ref.column.name for ref in _walk_tree(node, "ResolvedColumnRef")}


def test_results_filters_time_before_the_window_function(analyzer: googlesql.GoogleSQL) -> None:
    """Partition pruning needs `classified_at` filtered in the scan, under the ROW_NUMBER."""
    wire = {p.name: p.to_api_repr()["parameterType"] for p in query_parameters({
        "key": "", "classifier": "", "status": "", "prefix": "", "label": "", "min_score": 0.0,
        "since": datetime.now(UTC), "until": datetime.now(UTC), "n": 1, "offset": 0,
    })}  # fmt: skip
    stmt = analyzer.analyze(
        results.LATEST, {n: googlesql.parameter_type(t) for n, t in wire.items()}
    )
    [window] = list(_walk_tree(stmt, "ResolvedAnalyticScan"))
    below = list(_walk_tree(window.input_scan, "ResolvedFilterScan"))
    in_scan = {"classified_at", "request_key", "classifier", "object"}
    assert any(in_scan <= _columns(f.filter_expr) for f in below), "filter in the scan"
    outside = [f for f in _walk_tree(stmt, "ResolvedFilterScan") if f not in below]
    assert outside and all("classified_at" not in _columns(f.filter_expr) for f in outside)


def test_one_statement_per_page(fake: FakeBigQuery, bq: BigQueryWarehouse, host_app) -> None:  # type: ignore[no-untyped-def]
    client = Client(host_app)
    assert client.get("/classes?format=json").status_code == 200  # the catalog, once
    assert [c.jobless for c in fake.queries()] == [True]
    for url in [
        "/relations", "/classes?limit=5", "/image_info?image_id=0041c772f8b9aef6",
        "/image_search?description=Man", "/image_search_multiple?descriptions=Man,Guitar,Table",
        "/image_search_multiple?descriptions=Man,Girl&mode=all",
        "/relation_search?class1=%25&relation=plays&class2=%25", "/results?label=cat",
        "/image_search?description=Animal&subclasses=1",
        "/image_search_multiple?descriptions=Animal,Person&subclasses=1",
    ]:  # fmt: skip
        fake.reset()
        response = client.get(url + ("&" if "?" in url else "?") + "format=json&facets=0")
        assert response.status_code == 200, url
        calls = fake.queries()
        expected = 0 if url.startswith(("/relations", "/classes")) else 1  # catalog is cached
        assert len(calls) == expected, (url, [c.body["query"][:60] for c in calls])
        assert all(c.jobless and c.body.get("defaultDataset") for c in calls), url
        assert all(int(c.body["maximumBytesBilled"]) == 500_000_000 for c in calls), url
    # The facet panel costs one statement more (exact, from class_pairs), or two (a sample
    # of the search, then its counts).
    for url, statements in [
        ("/image_search?description=Man", 2), ("/image_search_multiple?descriptions=Man,Guitar", 3),
        ("/image_search?description=Animal&subclasses=1", 3), ("/relation_search?relation=on", 3),
    ]:  # fmt: skip
        fake.reset()
        assert client.get(url + "&format=json").status_code == 200, url
        assert len(fake.queries()) == statements, url


@pytest.mark.parametrize(
    ("status", "reason", "answer", "retry_after"),
    [
        (400, "bytesBilledLimitExceeded", 503, None),
        (403, "rateLimitExceeded", 503, "30"),
        (403, "quotaExceeded", 503, "30"),
        (503, "backendError", 503, "30"),
        (404, "notFound", 503, None),
        (400, "invalidQuery", 500, None),
        (403, "accessDenied", 500, None),
    ],
)
def test_service_errors_become_answers(
    fake: FakeBigQuery,
    bq: BigQueryWarehouse,
    host_app,
    monkeypatch: pytest.MonkeyPatch,
    status: int,
    reason: str,
    answer: int,
    retry_after: str | None,
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(bq, "timeout_s", 0.5)  # a retried error gives up quickly
    client = Client(host_app)
    assert client.get("/classes?format=json").status_code == 200
    secret = "Table oie-test:openimages.labels_by_label at /srv/data"
    fake.faults.append(Fault(status, reason, secret, times=1000))
    response = client.get("/image_search?description=Cat&format=json")
    body = response.get_json()
    assert response.status_code == answer and body["ok"] is False
    assert response.headers.get("Retry-After") == retry_after
    assert "labels_by_label" not in body["error"] and "/srv" not in body["error"]
    if answer == 500:
        assert body["error_id"] in body["error"]
    html = client.get("/image_search?description=Cat", headers={"Accept": "text/html"})
    assert html.status_code == answer and "labels_by_label" not in html.get_data(as_text=True)
    fake.faults.clear()


def test_bytes_billed_limit(fake: FakeBigQuery, bq: BigQueryWarehouse, host_app) -> None:  # type: ignore[no-untyped-def]
    client = Client(host_app)
    fake.bytes_per_query = 10_000_000
    assert client.get("/image_search?description=Cat&format=json").status_code == 200
    fake.bytes_per_query = 600_000_000  # over the default 500 MB
    response = client.get("/image_search?description=Dog&format=json")
    assert response.status_code == 503
    assert "would read more than the configured limit (500 MB)" in response.get_json()["error"]


def test_seen_check_runs_outside_the_lock(fake: FakeBigQuery, bq: BigQueryWarehouse) -> None:
    """Four events with distinct keys ask "already classified?" at the same time."""
    from oie.pipeline.events import for_object

    barrier = threading.Barrier(4, timeout=10)

    def meet(sql: str) -> None:
        if sql == runner.SEEN:
            barrier.wait()  # breaks (and the test fails) unless all four are in flight

    class Labels:
        model = "m"

        def classify(self, data: bytes, min_confidence: float = 0.0, top_k: int | None = None
                     ) -> tuple[Any, ...]:  # fmt: skip
            return ()

    bq.ensure_table(tables.spec(tables.CLASSIFICATIONS))
    fake.on_query = meet
    run = runner.Runner("tflite", Labels, lambda request: b"", bq)
    with ThreadPoolExecutor(4) as pool:
        done = list(pool.map(run.handle, [for_object("b", f"o{i}", "1") for i in range(4)]))
    assert done == ["ok"] * 4
    assert not barrier.broken
