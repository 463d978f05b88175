"""Warehouse adapter for a local DuckDB file."""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from ..logs import log
from . import Param, QueryTimeout, Row, Schema, WarehouseError
from .key_index import KEY_INDEX_TABLE, RELATIONS, SPECS, Indexes, KeyIndexError
from .key_index import build as build_indexes
from .sql import duckdb_call, to_duckdb

if TYPE_CHECKING:
    from ..tables import TableSpec

DUCKDB_TYPES = {"STRING": "VARCHAR", "INT64": "BIGINT", "FLOAT64": "DOUBLE", "BOOL": "BOOLEAN"}
# The JSON's type names (BigQuery's REST spellings): partitioning and clustering have no
# DuckDB counterpart and are left out. A TIMESTAMP is an instant, as on BigQuery.
FIELD_TYPES = {**DUCKDB_TYPES, "INTEGER": "BIGINT", "FLOAT": "DOUBLE", "BOOLEAN": "BOOLEAN",
               "TIMESTAMP": "TIMESTAMPTZ", "DATE": "DATE", "BYTES": "BLOB"}  # fmt: skip


def column_type(field: Mapping[str, Any]) -> str:
    """DuckDB's type for a field of a BigQuery table schema (RECORD and REPEATED included)."""
    kind = str(field["type"]).upper()
    if kind in ("RECORD", "STRUCT"):
        kind = f"STRUCT({', '.join(map(column, field['fields']))})"
    elif kind in FIELD_TYPES:
        kind = FIELD_TYPES[kind]
    else:
        raise ValueError(f"field {field['name']}: no DuckDB type for {kind}")
    return f"{kind}[]" if str(field.get("mode", "")).upper() == "REPEATED" else kind


def column(field: Mapping[str, Any]) -> str:
    return f'"{field["name"]}" {column_type(field)}'


class _Watch:
    fired = False  # the deadline passed and the cursor was interrupted


class Watchdog:
    """One thread that interrupts the statements running past their deadline.

    `interrupt()` stops what one cursor runs and nothing else (the cursors of a connection
    are separate clients); interrupting a cursor that has just finished is harmless: its
    next statement runs normally. A thread per query would cost a thread start each time.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._cond = threading.Condition()
        self._due: dict[_Watch, tuple[float, duckdb.DuckDBPyConnection]] = {}
        self._thread: threading.Thread | None = None
        self._wakes_at = math.inf  # when the thread looks next

    @contextmanager
    def limit(self, cursor: duckdb.DuckDBPyConnection, seconds: float | None) -> Iterator[_Watch]:
        watch = _Watch()
        if not seconds or seconds <= 0:
            yield watch
            return
        deadline = time.monotonic() + seconds
        with self._cond:
            self._due[watch] = (deadline, cursor)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="duckdb-watchdog",
                                                daemon=True)  # fmt: skip
                self._thread.start()
            elif deadline < self._wakes_at:  # else it wakes in time anyway
                self._cond.notify()
        try:
            yield watch
        finally:
            with self._cond:  # once this returns, no interrupt can come for this statement
                self._due.pop(watch, None)

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                for watch, (deadline, cursor) in list(self._due.items()):
                    if deadline <= now:
                        del self._due[watch]
                        watch.fired = True
                        with suppress(duckdb.Error):  # closed meanwhile: nothing to stop
                            cursor.interrupt()
                self._wakes_at = min((d for d, _ in self._due.values()), default=math.inf)
                self._cond.wait(None if self._wakes_at == math.inf else self._wakes_at - now)


WATCHDOG = Watchdog()
os.register_at_fork(after_in_child=WATCHDOG.reset)  # a forked child has no such thread


INDEXED = {s.table for s in SPECS.values()}  # deriving one of these drops the key indexes


class DuckDBWarehouse:
    """One DuckDB connection per process; each thread queries through its own cursor.

    `query` stops a statement after `timeout_s` (None: no limit) with `QueryTimeout`;
    loading and deriving tables (imports) have no limit.
    """

    name = "duckdb"

    def __init__(self, path: Path | str, memory_limit: str = "1GB", read_only: bool = False,
                 timeout_s: float | None = None):  # fmt: skip
        self.path = Path(path)
        self.memory_limit = memory_limit
        self.read_only = read_only
        self.timeout_s = timeout_s
        self._con: duckdb.DuckDBPyConnection | None = None
        self._lock = threading.Lock()
        self._local = threading.local()
        self._index: Indexes | None = None
        self._index_lock = threading.Lock()
        self._index_checked = False  # indexes() has looked (then None: there are none to read)

    def _connection(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            if self._con is None:
                if not self.read_only:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                try:
                    self._con = duckdb.connect(
                        str(self.path),
                        read_only=self.read_only,
                        config={"memory_limit": self.memory_limit},
                    )
                except duckdb.IOException as exc:
                    raise WarehouseError("the local warehouse cannot be opened",
                                         f"{self.path}: {exc}") from exc  # fmt: skip
            return self._con

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self._local.cursor = self._connection().cursor()
        return cursor

    def close(self) -> None:
        with self._index_lock:
            self._drop_index()
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None
        self._local = threading.local()

    def indexes(self) -> Indexes | None:
        """The key indexes of the imported tables (see key_index.py): the files beside the
        database if they are this import's, else built now when the database can be written
        (seconds at 60 M labels); None when they cannot be, or nothing is imported."""
        if self._index_checked:
            return self._index
        with self._index_lock:
            if not self._index_checked:
                self._index = self._open_index()
                self._index_checked = True
        return self._index

    def _open_index(self) -> Indexes | None:
        cursor = self._cursor()
        if not all(self._exists(s.table) for s in SPECS.values()):
            return None
        token = None
        if self._exists(KEY_INDEX_TABLE):
            row = cursor.execute(f"SELECT Token FROM {KEY_INDEX_TABLE}").fetchone()
            token = row[0] if row else None
        names = [r[0] for r in cursor.execute(RELATIONS).fetchall()]
        if token is not None:
            with suppress(OSError, KeyIndexError):
                return Indexes(self.path, token, names)
        if self.read_only:
            return None
        try:
            token = build_indexes(self.path, cursor.execute, names)
        except OSError as exc:  # e.g. a full disk: the statements answer instead
            log("WARNING", "the key indexes could not be written; pages use statements",
                path=str(self.path), error=str(exc))  # fmt: skip
            return None
        cursor.execute(f"CREATE OR REPLACE TABLE {KEY_INDEX_TABLE} AS SELECT $t::BIGINT AS Token",
                       {"t": token})  # fmt: skip
        return Indexes(self.path, token, names)

    def _drop_index(self) -> None:
        """Forget the key indexes: the tables are about to change (they are built again)."""
        if self._index is not None:
            self._index.close()
        self._index, self._index_checked = None, False

    def query(self, sql: str, params: Mapping[str, Param] | None = None) -> list[Row]:
        statement, values = duckdb_call(sql, params)
        cursor = self._cursor()
        with WATCHDOG.limit(cursor, self.timeout_s) as watch:
            try:
                cursor.execute(statement, values or None)
                if cursor.description is None:
                    return []
                names = [d[0] for d in cursor.description]
                return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
            except duckdb.CatalogException as exc:
                missing = "the data has not been imported (run `oie import`)"
                raise WarehouseError(missing, str(exc)) from exc
            except duckdb.InterruptException as exc:
                if watch.fired and self.timeout_s:
                    raise QueryTimeout(self.timeout_s, statement[:300]) from exc
                raise

    def load_csv(self, table: str, schema: Schema, path: Path, cluster_by: Sequence[str] = ()
                 ) -> int:  # fmt: skip
        columns = {name: DUCKDB_TYPES[kind] for name, kind in schema}
        # one statement: the old table stays until the new one is complete
        self._cursor().execute(
            f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM read_csv($path, header = true,"
            " columns = $columns, auto_detect = false, quote = '\"', escape = '\"')",
            {"path": str(path), "columns": columns},
        )
        return self.row_count(table) or 0

    def derive(self, table: str, select_sql: str, order_by: Sequence[str] = ()) -> None:
        if table in INDEXED:
            with self._index_lock:
                self._drop_index()
            self._cursor().execute(f"DROP TABLE IF EXISTS {KEY_INDEX_TABLE}")
        select = to_duckdb(select_sql)
        order = f" ORDER BY {', '.join(order_by)}" if order_by else ""
        self._cursor().execute(
            f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM ({select}){order}"
        )

    def ensure_table(self, spec: TableSpec) -> bool:
        if self._exists(spec.name):
            return False
        columns = ", ".join(map(column, spec.fields))
        self._cursor().execute(f"CREATE TABLE IF NOT EXISTS {spec.name} ({columns})")
        return True

    def append(self, table: str, rows: Sequence[Row], row_ids: Sequence[str]) -> None:
        if not rows:
            return
        names = list(rows[0])
        marks = ", ".join(f"${i + 1}" for i in range(len(names)))
        sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})"
        self._cursor().executemany(sql, [[row[n] for n in names] for row in rows])

    def _exists(self, table: str) -> bool:
        found = self._cursor().execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = $t", {"t": table}
        )
        row = found.fetchone()
        return bool(row and row[0])

    def row_count(self, table: str) -> int | None:
        if not self._exists(table):
            return None
        row = self._cursor().execute(f"SELECT count(*) FROM {table}").fetchone()
        return int(row[0]) if row else 0
