"""Warehouse adapter for BigQuery (google-cloud-bigquery, Application Default Credentials)."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from . import Param, Row, Schema, WarehouseError
from .sql import output_names, qualify


def _scalar_type(value: object) -> str:
    if isinstance(value, bool):
        return "BOOL"
    if isinstance(value, int):
        return "INT64"
    if isinstance(value, float):
        return "FLOAT64"
    if isinstance(value, datetime):
        return "TIMESTAMP"
    return "STRING"


def query_parameters(params: Mapping[str, Param]) -> list[Any]:
    from google.cloud import bigquery

    out: list[Any] = []
    for name, value in params.items():
        if isinstance(value, list | tuple):
            kind = _scalar_type(value[0]) if value else "STRING"
            out.append(bigquery.ArrayQueryParameter(name, kind, list(value)))
        else:
            out.append(bigquery.ScalarQueryParameter(name, _scalar_type(value), value))
    return out


def _jsonable(row: Row) -> Row:
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in row.items()}


class BigQueryWarehouse:
    """Queries run with `query_and_wait`; unqualified tables resolve to the dataset."""

    name = "bigquery"
    # Each statement is a job with a round trip of its own: prefer one big query to many.
    prefers_few_queries = True

    def __init__(self, project: str, dataset: str, endpoint: str = "", location: str | None = None):
        self.project = project
        self.dataset = dataset
        self.endpoint = endpoint
        self.location = location
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                from google.cloud import bigquery

                kwargs: dict[str, Any] = {"project": self.project or None}
                if self.endpoint:  # an emulator: no credentials to find
                    from google.api_core.client_options import ClientOptions
                    from google.auth.credentials import AnonymousCredentials

                    kwargs["client_options"] = ClientOptions(api_endpoint=self.endpoint)
                    kwargs["credentials"] = AnonymousCredentials()
                self._client = bigquery.Client(**kwargs)
            return self._client

    @property
    def dataset_id(self) -> str:
        return f"{self.client.project}.{self.dataset}"

    def ensure_dataset(self) -> None:
        self.client.create_dataset(self.dataset_id, exists_ok=True)

    def query(self, sql: str, params: Mapping[str, Param] | None = None) -> list[Row]:
        from google.api_core import exceptions
        from google.cloud import bigquery

        config = bigquery.QueryJobConfig(query_parameters=query_parameters(params or {}))
        try:
            rows = self.client.query_and_wait(qualify(sql, self.dataset), job_config=config)
        except exceptions.NotFound as exc:
            raise WarehouseError(f"{exc.message} (has the data been imported?)") from exc
        spelling = output_names(sql)
        return [{spelling.get(k.lower(), k): v for k, v in row.items()} for row in rows]

    def load_csv(self, table: str, schema: Schema, path: Path, cluster_by: Sequence[str] = ()
                 ) -> int:  # fmt: skip
        from google.cloud import bigquery

        self.ensure_dataset()
        config = bigquery.LoadJobConfig(
            source_format=bigquery.SourceFormat.CSV,
            skip_leading_rows=1,
            schema=[bigquery.SchemaField(name, kind) for name, kind in schema],
            clustering_fields=list(cluster_by) or None,
            write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
            allow_quoted_newlines=False,
        )
        with open(path, "rb") as fh:
            job = self.client.load_table_from_file(
                fh, f"{self.dataset_id}.{table}", job_config=config
            )
        job.result()
        return self.row_count(table) or 0

    def derive(self, table: str, select_sql: str, order_by: Sequence[str] = ()) -> None:
        # Clustering keeps the sorted-copy idea on BigQuery: a search prunes blocks.
        cluster = f" CLUSTER BY {', '.join(order_by[:4])}" if order_by else ""
        select = qualify(select_sql, self.dataset)
        self.client.query_and_wait(
            f"CREATE OR REPLACE TABLE `{self.dataset_id}.{table}`{cluster} AS {select}"
        )

    def create_table(self, table: str, columns: str, partition_by: str = "",
                     cluster_by: Sequence[str] = ()) -> None:  # fmt: skip
        self.ensure_dataset()
        ddl = f"CREATE TABLE IF NOT EXISTS `{self.dataset_id}.{table}` ({columns})"
        if partition_by:
            ddl += f" PARTITION BY {partition_by}"
        if cluster_by:
            ddl += f" CLUSTER BY {', '.join(cluster_by)}"
        self.client.query_and_wait(ddl)

    def append(self, table: str, rows: Sequence[Row], row_ids: Sequence[str]) -> None:
        if not rows:
            return
        errors = self.client.insert_rows_json(
            f"{self.dataset_id}.{table}", [_jsonable(r) for r in rows], row_ids=list(row_ids)
        )
        if errors:
            raise WarehouseError(f"insert into {table} failed: {errors[:3]}")

    def row_count(self, table: str) -> int | None:
        from google.api_core import exceptions

        try:
            return self.client.get_table(f"{self.dataset_id}.{table}").num_rows
        except exceptions.NotFound:
            return None
