"""The BigQuery adapter against bqemulator, which speaks BigQuery's REST API to the real
client library: the same import, and every page gives the same answer as on DuckDB."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.test import Client

from oie.app import current
from oie.explore import QUERIES
from oie.keys import MAX_KEY, MIN_KEY, image_key
from oie.warehouse import ints, strings
from oie.warehouse.bigquery_adapter import BigQueryWarehouse
from oie.warehouse.duckdb_adapter import DuckDBWarehouse
from tests.conftest import fresh_app, hierarchy_file

from .conftest import need
from .support.bqemulator import bqemulator_python, with_course_data

pytestmark = pytest.mark.bigquery
PROJECT, DATASET = "oie-test", "openimages"


@pytest.fixture(scope="module")
def bq_endpoint(course_files: dict[str, Path]) -> Iterator[str]:
    need(bqemulator_python() is not None, "no .venv-bqemu (tests/support/install-bqemulator.sh)")
    files = {**course_files, "class_hierarchy": hierarchy_file(course_files)}
    with with_course_data(PROJECT, DATASET, files) as endpoint:
        yield endpoint


@pytest.fixture
def bq(bq_endpoint: str) -> BigQueryWarehouse:
    return BigQueryWarehouse(PROJECT, DATASET, bq_endpoint)


@pytest.fixture
def duck(demo_db: Path) -> Iterator[DuckDBWarehouse]:
    wh = DuckDBWarehouse(demo_db, read_only=True)
    yield wh
    wh.close()


def test_loads_skip_the_header_and_keep_the_schema(bq: BigQueryWarehouse) -> None:
    assert bq.query("SELECT COUNT(*) AS n FROM classes WHERE Label = 'Label'") == [{"n": 0}]
    table = bq.client.get_table(f"{PROJECT}.{DATASET}.image_labels")
    assert [(f.name, f.field_type) for f in table.schema] == [
        ("ImageId", "STRING"),
        ("Label", "STRING"),
    ]
    assert bq.row_count("image_labels") == 4386


def test_derived_tables_match(bq: BigQueryWarehouse, duck: DuckDBWarehouse) -> None:
    for table, columns in [
        ("class_ids", ["Label", "LabelId"]),
        ("class_counts", ["LabelId", "Label", "Description", "NumImages"]),
        ("relation_counts", ["Relation", "NumRelations", "NumImages"]),
        ("labels_by_label", ["LabelId", "ImageKey"]),
        ("relations_by_image", ["ImageKey", "LabelId1", "Relation", "LabelId2"]),
    ]:
        sql = f"SELECT {', '.join(columns)} FROM {table} ORDER BY {', '.join(columns)}"
        rows = duck.query(sql)
        assert rows and list(rows[0]) == columns, table
        assert bq.query(sql) == rows, table


def cases(duck: DuckDBWarehouse) -> dict[str, list[dict]]:
    ids = {r["Label"]: r["LabelId"] for r in duck.query("SELECT Label, LabelId FROM class_ids")}
    man, guitar, table, girl, cat = (
        ids[x] for x in ("/m/04yx4", "/m/0342h", "/m/04bcr3", "/m/05r655", "/m/01yrx")
    )
    mid, low, high = image_key("5000000000000000"), MIN_KEY, MAX_KEY
    # more keys than DuckDB takes as an IN-list: the images of the first 100 Man labels
    keys = [r["ImageKey"] for r in duck.query(
        "SELECT ImageKey FROM labels_by_label WHERE LabelId = @l ORDER BY ImageKey LIMIT 100",
        {"l": man})]  # fmt: skip
    return {
        "search_after": [{"label": cat, "start": low, "n": 5},
                         {"label": man, "start": mid, "n": 11}],
        "search_before": [{"label": man, "start": mid, "n": 11}],
        "multiple_after": [
            {"labels": ints([man, guitar]), "lo": low, "hi": high, "m": 2, "n": 50},
            {"labels": ints([man, guitar, table]), "lo": mid, "hi": high, "m": 1, "n": 20},
            {"labels": ints([]), "lo": low, "hi": high, "m": 1, "n": 5},
        ],
        "multiple_before": [{"labels": ints([man, table]), "lo": low, "hi": mid, "m": 1, "n": 20}],
        "multiple_rare_after": [
            {"labels": ints([man, guitar]), "rare": ints([guitar]), "lo": low, "hi": high, "m": 2,
             "n": 50},
        ],
        "multiple_rare_before": [
            {"labels": ints([man, guitar, table]), "rare": ints([guitar, table]), "lo": low,
             "hi": high, "m": 2, "n": 50},
        ],
        "matched_labels": [
            {"keys": ints([image_key("0041c772f8b9aef6"), mid]), "labels": ints([girl, man])}
        ],
        "matched_by_label": [
            {"keys": ints([image_key("0041c772f8b9aef6"), mid]), "labels": ints([girl, man])}
        ],
        "relation_search": [
            {"any1": True, "labels1": ints([]), "any_relation": False,
             "relations": strings(["plays", "holds"]),
             "any2": True, "labels2": ints([]), "n": 30, "offset": 10},
            {"any1": False, "labels1": ints([girl, man]), "any_relation": True,
             "relations": strings([]),
             "any2": False, "labels2": ints([table]), "n": 1000, "offset": 0},
        ],
        "sample": [{"labels": ints([man, girl]), "lo": low, "hi": mid, "n": 40},
                   {"labels": ints([]), "lo": low, "hi": high, "n": 5}],
        "sample_dense": [{"labels": ints([man, table, cat]), "lo": mid, "hi": high, "n": 40}],
        "relation_images": [
            {"any1": True, "labels1": ints([]), "any_relation": False,
             "relations": strings(["plays", "holds"]), "any2": True, "labels2": ints([]),
             "n": 40},
            {"any1": False, "labels1": ints([girl, man]), "any_relation": True,
             "relations": strings([]), "any2": True, "labels2": ints([]), "n": 2000},
        ],
        "image": [{"key": image_key("0041c772f8b9aef6")}, {"key": high}],
        "whole_after": [
            {"labels": ints([man, guitar, table]), "min_m": 1, "max_m": 3, "m": 4, "key": low,
             "n": 50},
            {"labels": ints([man, table]), "min_m": 2, "max_m": 2, "m": 2, "key": mid, "n": 5},
        ],
        "whole_before": [
            {"labels": ints([man, guitar]), "min_m": 1, "max_m": 2, "m": 1, "key": mid, "n": 20},
        ],
        "any_after": [{"labels": ints([man, girl]), "lo": low, "hi": high, "n": 30},
                      {"labels": ints([]), "lo": low, "hi": high, "n": 5}],
        "any_before": [{"labels": ints([man, table]), "lo": low, "hi": mid, "n": 20}],
        "any_dense_after": [{"labels": ints([man, girl, cat]), "lo": low, "hi": mid, "n": 30}],
        "any_dense_before": [{"labels": ints([man, table]), "lo": mid, "hi": high, "n": 20}],
        "groups_after": [
            {"groups": strings(["/m/04yx4", "/m/0342h"]), "labels": ints([man, guitar, girl]),
             "min_m": 1,
             "max_m": 2, "m": 3, "key": low, "n": 40},
        ],
        "groups_before": [
            {"groups": strings(["/m/04yx4", "/m/04bcr3"]), "labels": ints([man, table]),
             "min_m": 1, "max_m": 2,
             "m": 1, "key": mid, "n": 20},
        ],
        "facets_of_class": [{"label": man}, {"label": cat}],
        "facets_of_images": [
            {"keys": ints([image_key("0041c772f8b9aef6"), mid]),
             "lo": image_key("0041c772f8b9aef6"), "hi": mid, "top": 3},
            {"keys": ints(keys), "lo": min(keys), "hi": max(keys), "top": 21},
            {"keys": ints([]), "lo": low, "hi": high, "top": 20},
        ],
    }  # fmt: skip


def _canonical(rows: list[dict], sql: str = "ORDER BY") -> str:
    """The rows as JSON; in a canonical order when the statement does not set one."""
    if "ORDER BY" not in sql.rsplit(")", 1)[-1]:
        rows = sorted(rows, key=lambda r: json.dumps(r, sort_keys=True, default=str))
    return json.dumps(rows, sort_keys=True, default=str)


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_every_query_gives_the_same_rows(
    name: str, bq: BigQueryWarehouse, duck: DuckDBWarehouse
) -> None:
    params_list = cases(duck).get(name)
    assert params_list, f"add parameters for query {name}"
    for params in params_list:
        expected = duck.query(QUERIES[name], params)
        sql = QUERIES[name]
        assert _canonical(bq.query(sql, params), sql) == _canonical(expected, sql), params
    assert any(duck.query(QUERIES[name], p) for p in params_list), "cases should return rows"


URLS = [
    "/classes?limit=50&offset=10",
    "/relations",
    "/image_info?image_id=0041c772f8b9aef6",
    "/image_info?image_id=ffffffffffffffff",
    "/image_search?description=Man&image_limit=7",
    "/image_search?description=Man&image_limit=7&after=5000000000000000",
    "/image_search?description=Man&image_limit=7&before=5000000000000000",
    "/image_search_multiple?descriptions=Man,Guitar,Table&image_limit=25",
    "/image_search_multiple?descriptions=Man,Guitar,Table&image_limit=25&after=1-8000000000000000",
    "/image_search_multiple?descriptions=Man,Table&mode=all&image_limit=5",
    "/relation_search?class1=%25an&relation=%25&class2=T%25&image_limit=20",
    "/relation_search?class1=%27%20OR%20%271%27=%271&image_limit=20",
]


def test_pages_are_the_same_on_both_warehouses(
    bq_endpoint: str, demo_env: Path, host_app, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    client = Client(host_app)
    on_duckdb = [client.get(u + "&format=json" if "?" in u else u + "?format=json") for u in URLS]
    monkeypatch.setenv("OIE_WAREHOUSE", "bigquery")
    monkeypatch.setenv("OIE_BQ_PROJECT", PROJECT)
    monkeypatch.setenv("OIE_BQ_DATASET", DATASET)
    monkeypatch.setenv("OIE_BQ_ENDPOINT", bq_endpoint)
    fresh_app()
    assert current().warehouse.name == "bigquery"
    for url, duck_response in zip(URLS, on_duckdb, strict=True):
        response = client.get(url + "&format=json" if "?" in url else url + "?format=json")
        assert response.status_code == duck_response.status_code, url
        assert response.get_json() == duck_response.get_json(), url
    assert any(r.get_json().get("images") for r in on_duckdb)


def test_classification_rows_on_bigquery(bq: BigQueryWarehouse, assets: Path) -> None:
    from oie.classify.classifier import Classifier
    from oie.classify.model import load_spec
    from oie.pipeline.events import for_object
    from oie.pipeline.runner import Runner

    classifier = Classifier(load_spec(assets / "models" / "mobilenet_v2_1.0_224_quant.tflite"))
    photo = (assets / "images" / "parrot.jpg").read_bytes()
    runner = Runner("tflite", lambda: classifier, lambda request: photo, bq)
    request = for_object("bucket", "a b/parrot.jpg", "3", event_id="e")
    assert runner.handle(request) == "ok"
    assert runner.handle(request) == "duplicate"
    [row] = bq.query("SELECT request_key, status, labels, classified_at FROM classifications")
    assert row["request_key"] == "bucket/a b/parrot.jpg#3" and row["status"] == "ok"
    assert row["labels"][0]["label"] == "macaw" and row["labels"][0]["score"] > 0.9
