"""BigQuery SQL run on DuckDB: list parameters, short (an IN-list) and long (a join)."""

from __future__ import annotations

from pathlib import Path

import pytest

from oie.warehouse import ints, strings
from oie.warehouse.duckdb_adapter import DuckDBWarehouse
from oie.warehouse.sql import IN_LIST_MAX, duckdb_call


@pytest.fixture
def duck(tmp_path: Path) -> DuckDBWarehouse:
    warehouse = DuckDBWarehouse(tmp_path / "t.duckdb")
    warehouse.query("CREATE TABLE t AS SELECT range AS k, 'n' || range AS s FROM range(5000)")
    return warehouse


@pytest.mark.parametrize("n", [0, 1, IN_LIST_MAX, IN_LIST_MAX + 1, 1000])
def test_a_list_of_any_length_selects_its_members(duck: DuckDBWarehouse, n: int) -> None:
    wanted = list(range(7, 7 + 3 * n, 3))  # every third key from 7, n of them
    rows = duck.query("SELECT k FROM t WHERE k IN UNNEST(@keys) ORDER BY k", {"keys": ints(wanted)})
    assert [r["k"] for r in rows] == wanted
    names = [f"n{k}" for k in wanted] + ["absent"]
    rows = duck.query("SELECT s FROM t WHERE s IN UNNEST(@names) ORDER BY k",
                      {"names": strings(names)})  # fmt: skip
    assert [r["s"] for r in rows] == names[:-1]


def test_long_lists_are_one_value_and_short_ones_an_in_list() -> None:
    sql = "SELECT k FROM t WHERE k IN UNNEST(@keys)"
    statement, values = duckdb_call(sql, {"keys": ints(range(IN_LIST_MAX + 1))})
    assert "UNNEST($keys)" in statement and values == {"keys": list(range(IN_LIST_MAX + 1))}
    statement, values = duckdb_call(sql, {"keys": ints([4, 5])})
    assert "IN ($keys__0, $keys__1)" in statement and values == {"keys__0": 4, "keys__1": 5}
    statement, values = duckdb_call(sql, {"keys": ints([])})
    assert "FALSE" in statement.upper() and values == {}
