"""The Warehouse port: run BigQuery-dialect SQL with named parameters, load and derive tables.

Adapters: `duckdb_adapter.DuckDBWarehouse` (local) and `bigquery_adapter.BigQueryWarehouse`.
`oie.app.make_warehouse` picks one from settings; the layer contract (pyproject.toml) keeps
the core from importing either.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from ..errors import Busy, Unavailable

if TYPE_CHECKING:  # a type only: the port does not depend on the core
    from ..tables import TableSpec


Element = Literal["INT64", "STRING"]


@dataclass(frozen=True)
class Array:
    """A list parameter with its element type.

    BigQuery types every statement before it runs: `x IN UNNEST(@ids)` on an INT64 column
    needs `ARRAY<INT64>` even when the list is empty, so the type travels with the values.
    """

    element: Element
    values: tuple[int | str, ...]


def ints(values: Iterable[int]) -> Array:
    return Array("INT64", tuple(values))


def strings(values: Iterable[str]) -> Array:
    return Array("STRING", tuple(values))


Param = str | int | float | bool | datetime | Array
Row = dict[str, Any]
# (column name, BigQuery type), e.g. ("ImageId", "STRING")
Schema = Sequence[tuple[str, str]]


class WarehouseError(Unavailable):
    """The warehouse could not answer (missing table, unreachable service, ...)."""


class QueryTimeout(Busy):
    """A statement ran past the warehouse's time limit and was stopped: 503, try again."""

    def __init__(self, limit_s: float, detail: str = ""):
        super().__init__(f"the query took longer than {limit_s:g} s and was stopped", detail)
        self.limit_s = limit_s


class Indexes(Protocol):
    """Lookups of one class or one image without a statement (the local home has them)."""

    def label_keys(self, label_id: int, start: int, n: int, backward: bool = False) -> list[int]:
        """Up to `n` keys of the label from `start` on (>=), or back from it (<=, descending):
        the rows `oie.explore.SEARCH_AFTER` and `SEARCH_BEFORE` return."""
        ...

    def image_rows(self, key: int) -> list[Row]:
        """The image's labels, then its relations: the rows `oie.explore.IMAGE` returns."""
        ...


class Warehouse(Protocol):
    name: str

    def indexes(self) -> Indexes | None:
        """The key indexes of the imported tables, or None (BigQuery: statements do it)."""
        ...

    def query(self, sql: str, params: Mapping[str, Param] | None = None) -> list[Row]:
        """Run one BigQuery-dialect statement; `@name` placeholders take `params`."""
        ...

    def load_csv(self, table: str, schema: Schema, path: Path, cluster_by: Sequence[str] = ()
                 ) -> int:  # fmt: skip
        """Replace `table` with a CSV that has a header row and the schema's columns."""
        ...

    def derive(self, table: str, select_sql: str, order_by: Sequence[str] = ()) -> None:
        """Replace `table` with a query's rows, stored sorted (DuckDB) or clustered (BigQuery)."""
        ...

    def ensure_table(self, spec: TableSpec) -> bool:
        """Create the table its JSON spec describes unless it exists; True if it was created.

        BigQuery takes the JSON as its Table resource; DuckDB translates the same fields.
        """
        ...

    def append(self, table: str, rows: Sequence[Row], row_ids: Sequence[str]) -> None:
        """Append rows; `row_ids` let BigQuery drop a retried insert (best effort)."""
        ...

    def row_count(self, table: str) -> int | None:
        """Rows in `table`, or None when it does not exist."""
        ...
