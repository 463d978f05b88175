"""An in-process fake of BigQuery's REST API, for google-cloud-bigquery's own client.

`FakeBigQuery` is the HTTP session the client sends its requests through
(`bigquery.Client(_http=fake)`, see `patch_client`), so everything the project's adapter
builds (the SQL text, `queryParameters` with their types, `defaultDataset`,
`maximumBytesBilled`, `jobCreationMode`) arrives as it would at Google. It answers as the
REST reference documents:

- `jobs.query` (`POST /projects/P/queries`): the statement is first judged by GoogleSQL's
  analyzer (`tests.support.googlesql`) with the parameter types as sent; a refused
  statement answers 400 `invalidQuery` and is kept in `refused`. An accepted one runs on a
  DuckDB file holding the data (transpiled by sqlglot here, independently of the project's
  DuckDB adapter), and the result's schema is the analyzer's output types. Without
  `jobCreationMode: JOB_CREATION_OPTIONAL` the answer names a job, as BigQuery's does.
  With no analyzer (a benchmark), the schema comes from DuckDB's result.
- `tables.insert` (`POST /projects/P/datasets/D/tables`, the body a Table resource): the
  table is created on the DuckDB file from the resource's schema (nested and repeated
  fields too; partitioning and clustering only change how BigQuery stores it) and added to
  the analyzer's catalog; the answer is the Table resource, or 409 `duplicate` when the
  table exists.
- `tables.get`, `tabledata.insertAll`, `datasets.get`, `datasets.insert`, for the adapter's
  other calls.

Every call is kept in `calls`, with the CPU time the fake itself spent on it, so a
benchmark can tell the client's share of a page from the fake's.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import duckdb
import requests
import sqlglot
from sqlglot import exp

from .googlesql import GoogleSQL, Refused, parameter_type, rest_field

API = "/bigquery/v2/projects/"


@dataclass
class Call:
    method: str
    path: str
    body: dict[str, Any]
    cpu_s: float = 0.0  # the fake's own CPU time answering it

    @property
    def is_query(self) -> bool:
        return self.path.endswith("/queries")

    @property
    def jobless(self) -> bool:
        """Sent to jobs.query in short-query mode: BigQuery may skip creating a job."""
        return self.is_query and self.body.get("jobCreationMode") == "JOB_CREATION_OPTIONAL"


@dataclass
class Fault:
    """An error answer for the next `times` queries (e.g. 503 backendError)."""

    status: int
    reason: str
    message: str
    times: int = 1


@dataclass
class FakeBigQuery:
    database: str  # a DuckDB file holding the tables (e.g. one `oie import` made)
    analyzer: GoogleSQL | None
    project: str = "oie-test"
    dataset: str = "openimages"
    bytes_per_query: int = 0  # what a query "would bill", checked against maximumBytesBilled
    calls: list[Call] = field(default_factory=list)
    refused: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    on_query: Callable[[str], None] | None = None  # e.g. a delay, to model a job's latency

    is_mtls = False  # read by google-cloud-core's connection

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._con = duckdb.connect(self.database)

    def close(self) -> None:
        self._con.close()

    def _run(self, sql: str, params: Any = None) -> duckdb.DuckDBPyConnection:
        return self._con.cursor().execute(sql, params or None)

    # The part of requests.Session that google-cloud-core uses.
    def request(self, method: str, url: str, data: Any = None, headers: Any = None,
                timeout: Any = None, **_: Any) -> requests.Response:  # fmt: skip
        started = time.thread_time()
        path = urlsplit(url).path
        if isinstance(data, bytes):
            data = data.decode()
        body = json.loads(data) if data else {}
        call = Call(method, path, body)
        try:
            status, payload = self._route(method, path, body)
        except Refused as exc:
            status, payload = _error(400, "invalidQuery", str(exc))
        except duckdb.CatalogException as exc:  # a table BigQuery would have is missing
            status, payload = _error(404, "notFound", f"Not found: {exc}")
        response = requests.Response()
        response.status_code = status
        response._content = json.dumps(payload).encode()
        response.headers["content-type"] = "application/json"
        response.request = requests.Request(method, url).prepare()
        call.cpu_s = time.thread_time() - started
        with self._lock:
            self.calls.append(call)
        return response

    def _route(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        if not path.startswith(API):
            return _error(404, "notFound", f"no route {path}")
        parts = path[len(API) :].split("/")
        if method == "POST" and parts[1:] == ["queries"]:
            return self._query(body)
        if method == "POST" and parts[1:] == ["datasets"]:
            return 200, {**body, "id": f"{parts[0]}:{body['datasetReference']['datasetId']}"}
        if method == "GET" and len(parts) == 3 and parts[1] == "datasets":
            return self._dataset(parts[0], parts[2])
        if method == "POST" and len(parts) == 4 and parts[1] == "datasets" and parts[3] == "tables":
            return self._create_table(body)
        if len(parts) >= 5 and parts[1] == "datasets" and parts[3] == "tables":
            table = parts[4]
            if method == "GET" and len(parts) == 5:
                return self._table(table)
            if method == "POST" and parts[5:] == ["insertAll"]:
                return self._insert(table, body)
        return _error(501, "notImplemented", f"{method} {path} is not faked")

    def _table(self, name: str) -> tuple[int, Any]:
        found = self._run("SELECT 1 FROM information_schema.tables WHERE table_name = $t",
                          {"t": name}).fetchone()  # fmt: skip
        if not found:
            return _error(404, "notFound", f"Not found: Table {self.project}:{self.dataset}.{name}")
        [count] = self._run(f'SELECT count(*) FROM "{name}"').fetchone()
        ref = {"projectId": self.project, "datasetId": self.dataset, "tableId": name}
        fields = []
        if self.analyzer and name in self.analyzer.tables:
            fields = [rest_field(c.name, c.type) for c in self.analyzer.tables[name]]
        return 200, {"tableReference": ref, "numRows": str(count), "schema": {"fields": fields}}

    def _dataset(self, project: str, dataset: str) -> tuple[int, Any]:
        if dataset != self.dataset:
            return _error(404, "notFound", f"Not found: Dataset {project}:{dataset}")
        ref = {"projectId": project, "datasetId": dataset}
        return 200, {"kind": "bigquery#dataset", "id": f"{project}:{dataset}",
                     "datasetReference": ref, "location": "US"}  # fmt: skip

    def _create_table(self, body: dict[str, Any]) -> tuple[int, Any]:
        ref = body["tableReference"]
        name = ref["tableId"]
        label = f"{ref['projectId']}:{ref['datasetId']}.{name}"
        fields = body.get("schema", {}).get("fields", [])
        columns = ", ".join(_duckdb_column(f) for f in fields)
        try:
            self._run(f'CREATE TABLE "{name}" ({columns})')
        except duckdb.CatalogException:  # already there
            return _error(409, "duplicate", f"Already Exists: Table {label}")
        if self.analyzer is not None:
            from .googlesql import Column, schema_type

            self.analyzer.add_table(name, [Column(f["name"], schema_type(f)) for f in fields])
        created = str(int(time.time() * 1000))
        return 200, {**body, "kind": "bigquery#table", "id": label, "type": "TABLE",
                     "numRows": "0", "creationTime": created, "location": "US"}  # fmt: skip

    def _insert(self, name: str, body: dict[str, Any]) -> tuple[int, Any]:
        rows = [r["json"] for r in body.get("rows", [])]
        if rows:
            names = list(rows[0])
            values = [[_scalar("TIMESTAMP", r[n]) if n == "classified_at" else r[n]
                       for n in names] for r in rows]  # fmt: skip
            marks = ", ".join("?" for _ in names)
            self._con.cursor().executemany(
                f'INSERT INTO "{name}" ({", ".join(names)}) VALUES ({marks})', values
            )
        return 200, {"kind": "bigquery#tableDataInsertAllResponse"}

    def _query(self, body: dict[str, Any]) -> tuple[int, Any]:
        sql = body["query"]
        if self.on_query:
            self.on_query(sql)
        with self._lock:
            fault = self.faults[0] if self.faults else None
            if fault:
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.pop(0)
        if fault:
            return _error(fault.status, fault.reason, fault.message)
        params = body.get("queryParameters", [])
        types = {p["name"]: parameter_type(p["parameterType"]) for p in params}
        stmt = None
        if self.analyzer is not None:
            try:
                stmt = self.analyzer.analyze(sql, types)
            except Refused as exc:
                with self._lock:
                    self.refused.append((sql, {p["name"]: p for p in params}, str(exc)))
                raise
        limit = int(body.get("maximumBytesBilled") or 0)
        if limit and self.bytes_per_query > limit:
            return _error(
                400, "bytesBilledLimitExceeded",
                f"Query exceeded limit for bytes billed: {limit}. "
                f"{self.bytes_per_query} or higher required.",
            )  # fmt: skip
        cursor = self._run(_for_duckdb(sql), _values(params))
        rows = cursor.fetchall() if cursor.description else []
        answer: dict[str, Any] = {"kind": "bigquery#queryResponse", "jobComplete": True}
        if body.get("jobCreationMode") == "JOB_CREATION_OPTIONAL":
            answer["queryId"] = f"q{len(self.calls)}"
        else:
            answer["jobReference"] = {"projectId": self.project, "jobId": f"job{len(self.calls)}",
                                      "location": "US"}  # fmt: skip
        kind = type(stmt).__name__ if stmt is not None else ""
        if kind in ("ResolvedCreateTableAsSelectStmt", "ResolvedCreateTableStmt"):
            self._created(stmt)
        if not cursor.description or sql.lstrip().upper().startswith("CREATE"):
            return 200, {**answer, "totalRows": "0"}
        if stmt is not None:
            fields = [rest_field(c.name, c.column.type) for c in stmt.output_column_list]
        else:
            fields = [_duckdb_field(d[0], str(d[1])) for d in cursor.description]
        answer["schema"] = {"fields": fields}
        answer["rows"] = [_row(fields, list(r)) for r in rows]
        answer["totalRows"] = str(len(rows))
        answer["totalBytesProcessed"] = str(self.bytes_per_query)
        return 200, answer

    def _created(self, stmt: Any) -> None:
        from .googlesql import Column

        assert self.analyzer is not None
        name = stmt.name_path[-1]
        if getattr(stmt, "output_column_list", None):
            columns = [Column(c.name, c.column.type) for c in stmt.output_column_list]
        else:
            columns = [Column(c.name, c.type) for c in stmt.column_definition_list]
        self.analyzer.add_table(name, columns)

    # What a benchmark or test reads back.
    def queries(self) -> list[Call]:
        return [c for c in self.calls if c.is_query]

    def reset(self) -> None:
        """Forget the calls (refusals stay: each is a finding)."""
        with self._lock:
            self.calls.clear()


def _error(status: int, reason: str, message: str) -> tuple[int, Any]:
    error = {"reason": reason, "message": message}
    return status, {"error": {"code": status, "message": message, "errors": [error]}}


_DUCKDB_TYPES = {"BIGINT": "INTEGER", "VARCHAR": "STRING", "DOUBLE": "FLOAT",
                 "BOOLEAN": "BOOLEAN", "TIMESTAMP": "TIMESTAMP"}  # fmt: skip


def _duckdb_field(name: str, kind: str) -> dict[str, Any]:
    if kind.endswith("[]"):
        return {**_duckdb_field(name, kind[:-2]), "mode": "REPEATED"}
    return {"name": name, "type": _DUCKDB_TYPES.get(kind, "STRING"), "mode": "NULLABLE"}


# REST schema types -> DuckDB's, for tables.insert (the fake's own, not the adapter's).
_REST_TO_DUCKDB = {"STRING": "VARCHAR", "INTEGER": "BIGINT", "INT64": "BIGINT",
                   "FLOAT": "DOUBLE", "FLOAT64": "DOUBLE", "BOOLEAN": "BOOLEAN",
                   "BOOL": "BOOLEAN", "TIMESTAMP": "TIMESTAMPTZ", "DATE": "DATE"}  # fmt: skip


def _duckdb_column(f: Mapping[str, Any]) -> str:
    if f["type"] in ("RECORD", "STRUCT"):
        kind = f"STRUCT({', '.join(_duckdb_column(sub) for sub in f['fields'])})"
    else:
        kind = _REST_TO_DUCKDB[f["type"]]
    return f'"{f["name"]}" {kind}{"[]" if f.get("mode") == "REPEATED" else ""}'


def _for_duckdb(sql: str) -> str:
    """The statement in DuckDB's dialect: no `dataset.` qualifiers, no BigQuery DDL options."""
    tree = sqlglot.parse_one(sql, read="bigquery")
    for table in tree.find_all(exp.Table):
        parts = table.name.split(".")
        if table.args.get("db") or len(parts) > 1:
            table.set("this", exp.to_identifier(parts[-1]))
            table.set("db", None)
            table.set("catalog", None)
    for node in list(tree.find_all(exp.PartitionedByProperty, exp.Cluster)):
        node.pop()
    return tree.sql(dialect="duckdb")


def _scalar(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "INT64":
        return int(value)
    if kind == "FLOAT64":
        return float(value)
    if kind == "BOOL":
        return value == "true"
    if kind == "TIMESTAMP":
        return datetime.fromisoformat(value).astimezone(UTC).replace(tzinfo=None)
    return value


def _values(params: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in params:
        kind, value = p["parameterType"], p.get("parameterValue", {})
        if kind["type"] == "ARRAY":
            element = kind["arrayType"]["type"]
            items = value.get("arrayValues", [])
            out[p["name"]] = [_scalar(element, v.get("value")) for v in items]
        else:
            out[p["name"]] = _scalar(kind["type"], value.get("value"))
    return out


def _cell(f: Mapping[str, Any], value: Any) -> Any:
    if value is None:
        return None
    if f.get("mode") == "REPEATED":
        single = {**f, "mode": "NULLABLE"}
        return [{"v": _cell(single, item)} for item in value]
    kind = f["type"]
    if kind == "RECORD":
        return {"f": [{"v": _cell(sub, value.get(sub["name"]))} for sub in f["fields"]]}
    if kind == "BOOLEAN":
        return "true" if value else "false"
    if kind == "TIMESTAMP":
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return str(int(value.timestamp() * 1_000_000))
    return str(value)


def _row(fields: list[dict[str, Any]], values: list[Any]) -> dict[str, Any]:
    return {"f": [{"v": _cell(f, v)} for f, v in zip(fields, values, strict=True)]}


@contextmanager
def patch_client(fake: FakeBigQuery) -> Iterator[FakeBigQuery]:
    """Every `bigquery.Client` made meanwhile sends its requests to `fake`, without credentials."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    real = bigquery.Client

    class Client(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["credentials"] = AnonymousCredentials()
            kwargs["_http"] = fake
            kwargs["project"] = kwargs.get("project") or fake.project
            kwargs.pop("client_options", None)
            super().__init__(*args, **kwargs)

    bigquery.Client = Client
    try:
        yield fake
    finally:
        bigquery.Client = real
