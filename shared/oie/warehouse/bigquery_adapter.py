"""Warehouse adapter for BigQuery (google-cloud-bigquery, Application Default Credentials).

Statements go as written: `QueryJobConfig.default_dataset` resolves unqualified table
names, and short-query mode (`JOB_CREATION_OPTIONAL`) lets BigQuery answer a small page
without creating a job. Every query has a bytes-billed cap and a deadline.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..cloud import client_kwargs
from ..errors import Busy, Failure
from . import Array, Param, Row, Schema, WarehouseError

if TYPE_CHECKING:
    from ..tables import TableSpec

DATASET_DESCRIPTION = "Open Images Explorer: the data set, and classifier results"
# Reasons BigQuery gives for "not now": a retry later may succeed.
BUSY_REASONS = {"rateLimitExceeded", "quotaExceeded", "backendError", "internalError",
                "jobRateLimitExceeded", "resourcesExceeded"}  # fmt: skip


def _scalar_type(value: object) -> str:
    if isinstance(value, bool):
        return "BOOL"
    if isinstance(value, int):
        return "INT64"
    if isinstance(value, float):
        return "FLOAT64"
    if isinstance(value, datetime):
        return "TIMESTAMP"
    if isinstance(value, str):
        return "STRING"
    raise TypeError(f"no BigQuery type for a {type(value).__name__} parameter")


def query_parameters(params: Mapping[str, Param]) -> list[Any]:
    """The statement's parameters, each typed as BigQuery will check it."""
    from google.cloud import bigquery

    out: list[Any] = []
    for name, value in params.items():
        if isinstance(value, Array):
            out.append(bigquery.ArrayQueryParameter(name, value.element, list(value.values)))
        elif isinstance(value, list | tuple):
            raise TypeError(f"list parameter @{name} has no element type: pass ints() or strings()")
        else:
            out.append(bigquery.ScalarQueryParameter(name, _scalar_type(value), value))
    return out


def _jsonable(row: Row) -> Row:
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in row.items()}


def translate(exc: Exception, max_bytes_billed: int | None = None) -> Exception:
    """A client library error as the answer it deserves; the service's words stay in `detail`."""
    from google.api_core import exceptions

    detail = str(exc)
    errors = getattr(exc, "errors", None) or [{}]
    reason = errors[0].get("reason", "") if isinstance(errors[0], dict) else ""
    if reason == "bytesBilledLimitExceeded":
        cap = f" ({max_bytes_billed / 1e6:,.0f} MB)" if max_bytes_billed else ""
        return WarehouseError(f"this query would read more than the configured limit{cap}",
                              detail)  # fmt: skip
    if isinstance(exc, exceptions.NotFound):
        return WarehouseError("the data set has not been loaded into BigQuery yet", detail)
    transient = (exceptions.TooManyRequests, exceptions.ServerError, exceptions.RetryError,
                 exceptions.DeadlineExceeded, TimeoutError, ConnectionError)  # fmt: skip
    if reason in BUSY_REASONS or isinstance(exc, transient):
        return Busy("BigQuery is busy or unreachable; try again shortly", detail)
    return Failure(f"BigQuery refused a statement: {detail}")


def _csv_load(**fields: Any) -> Any:
    """A load job of a CSV with a header row, replacing the table's rows."""
    from google.cloud import bigquery

    return bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.CSV,
        skip_leading_rows=1,
        write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
        allow_quoted_newlines=False,
        **fields,
    )


class BigQueryWarehouse:
    """Queries run with `query_and_wait`; unqualified tables resolve to the dataset."""

    name = "bigquery"
    # Each statement is a round trip of its own: prefer one bigger query to several.
    prefers_few_queries = True

    def __init__(self, project: str, dataset: str, endpoint: str = "", location: str | None = None,
                 max_bytes_billed: int | None = None, timeout_s: float = 20.0):  # fmt: skip
        self.project = project
        self.dataset = dataset
        self.endpoint = endpoint
        self.location = location
        self.max_bytes_billed = max_bytes_billed
        self.timeout_s = timeout_s
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                from google.cloud import bigquery

                self._client = bigquery.Client(
                    project=self.project or None,
                    default_job_creation_mode="JOB_CREATION_OPTIONAL",
                    **client_kwargs(self.endpoint),
                )
            return self._client

    @property
    def dataset_id(self) -> str:
        return f"{self.client.project}.{self.dataset}"

    def ensure_dataset(self, location: str | None = None) -> tuple[Any, bool]:
        """The dataset (`bigquery.Dataset`), created in `location` (default: the adapter's,
        else BigQuery's) when missing, and whether this call created it. Looks first: a
        reader may not create datasets."""
        from google.api_core import exceptions
        from google.cloud import bigquery

        try:
            return self.client.get_dataset(self.dataset_id), False
        except exceptions.NotFound:
            pass
        want = bigquery.Dataset(self.dataset_id)
        if location or self.location:
            want.location = location or self.location
        want.description = DATASET_DESCRIPTION
        try:
            return self.client.create_dataset(want), True
        except exceptions.Conflict:  # created meanwhile
            return self.client.get_dataset(self.dataset_id), False

    def table(self, spec: TableSpec) -> Any:
        """The `bigquery.Table` that the table's JSON describes, in this dataset."""
        from google.cloud import bigquery

        resource = spec.table_resource(self.client.project, self.dataset)
        return bigquery.Table.from_api_repr(resource)

    def _run(self, sql: str, params: Mapping[str, Param] | None = None,
             max_bytes_billed: int | None = None) -> Any:  # fmt: skip
        from google.api_core import exceptions
        from google.cloud import bigquery
        from google.cloud.bigquery.retry import DEFAULT_JOB_RETRY, DEFAULT_RETRY

        config = bigquery.QueryJobConfig(
            default_dataset=self.dataset_id, query_parameters=query_parameters(params or {})
        )
        if max_bytes_billed:  # the library would send None as the string "None"
            config.maximum_bytes_billed = max_bytes_billed
        try:
            return self.client.query_and_wait(
                sql, job_config=config, location=self.location,
                api_timeout=self.timeout_s, wait_timeout=self.timeout_s,
                retry=DEFAULT_RETRY.with_deadline(self.timeout_s),
                job_retry=DEFAULT_JOB_RETRY.with_deadline(self.timeout_s),
            )  # fmt: skip
        except (exceptions.GoogleAPIError, TimeoutError, ConnectionError) as exc:
            raise translate(exc, max_bytes_billed) from exc

    def query(self, sql: str, params: Mapping[str, Param] | None = None) -> list[Row]:
        rows = self._run(sql, params, self.max_bytes_billed)
        return [dict(row.items()) for row in rows]

    def load_csv(self, table: str, schema: Schema, path: Path, cluster_by: Sequence[str] = ()
                 ) -> int:  # fmt: skip
        from google.cloud import bigquery

        self.ensure_dataset()
        config = _csv_load(
            schema=[bigquery.SchemaField(name, kind) for name, kind in schema],
            clustering_fields=list(cluster_by) or None,
        )
        with open(path, "rb") as fh:
            job = self.client.load_table_from_file(
                fh, f"{self.dataset_id}.{table}", job_config=config
            )
        job.result()
        return self.row_count(table) or 0

    def load_uri(self, spec: TableSpec, uri: str) -> int:
        """Replace the table `spec` describes with the CSV at `uri` (gs://..., a header row
        first), typed, clustered and partitioned as its JSON says; the rows loaded."""
        want = self.table(spec)
        config = _csv_load(schema=want.schema, clustering_fields=want.clustering_fields,
                           time_partitioning=want.time_partitioning)  # fmt: skip
        job = self.client.load_table_from_uri(uri, want.reference, job_config=config)
        job.result()
        if job.output_rows is not None:
            return int(job.output_rows)
        return self.row_count(spec.name) or 0

    def derive(self, table: str, select_sql: str, order_by: Sequence[str] = ()) -> None:
        # Clustering keeps the sorted-copy idea on BigQuery: a search prunes blocks.
        cluster = f" CLUSTER BY {', '.join(order_by[:4])}" if order_by else ""
        self._run(f"CREATE OR REPLACE TABLE {table}{cluster} AS {select_sql}")

    def ensure_table(self, spec: TableSpec) -> bool:
        """tables.insert with the JSON as the Table resource; looks first (tables.get), as a
        deployed classifier may append to its table but not create tables."""
        from google.api_core import exceptions

        want = self.table(spec)
        try:
            try:
                self.client.get_table(want.reference)
                return False
            except exceptions.NotFound:
                pass
            self.ensure_dataset()
            try:
                self.client.create_table(want)
                return True
            except exceptions.Conflict:  # created meanwhile
                return False
        except (exceptions.GoogleAPIError, TimeoutError, ConnectionError) as exc:
            raise translate(exc) from exc

    def append(self, table: str, rows: Sequence[Row], row_ids: Sequence[str]) -> None:
        if not rows:
            return
        errors = self.client.insert_rows_json(
            f"{self.dataset_id}.{table}", [_jsonable(r) for r in rows], row_ids=list(row_ids)
        )
        if errors:
            detail = f"{table}: {errors[:3]}"
            raise WarehouseError("the classification could not be recorded", detail)

    def indexes(self) -> None:
        return None

    def row_count(self, table: str) -> int | None:
        from google.api_core import exceptions

        try:
            return self.client.get_table(f"{self.dataset_id}.{table}").num_rows
        except exceptions.NotFound:
            return None
