"""GoogleSQL's own analyzer (PyPI `zetasql`) over the project's tables, typed as BigQuery types.

The catalog is built from `infra/schemas/*.json` (nested and repeated fields included), then
from each derived table's SELECT, analyzed in order: its output columns become the next
table. A statement is analyzed with the query parameters as BigQuery's REST API receives
them (`queryParameters`, each with its `parameterType`), so a parameter the adapter types
wrongly is refused here as BigQuery refuses it.

Two settings make the analyzer answer as BigQuery's front end does: every language feature
on, and QUALIFY reserved (BigQuery accepts QUALIFY without WHERE).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from oie import tables

# BigQuery REST type names (schemas and parameterType) -> ZetaSQL type kinds.
_KINDS = {
    "STRING": "TYPE_STRING",
    "INTEGER": "TYPE_INT64",
    "INT64": "TYPE_INT64",
    "FLOAT": "TYPE_DOUBLE",
    "FLOAT64": "TYPE_DOUBLE",
    "BOOLEAN": "TYPE_BOOL",
    "BOOL": "TYPE_BOOL",
    "TIMESTAMP": "TYPE_TIMESTAMP",
    "DATE": "TYPE_DATE",
    "BYTES": "TYPE_BYTES",
    "NUMERIC": "TYPE_NUMERIC",
}
# ZetaSQL type kinds -> BigQuery REST schema type names (for query results).
REST_TYPES = {
    "TYPE_STRING": "STRING",
    "TYPE_INT64": "INTEGER",
    "TYPE_DOUBLE": "FLOAT",
    "TYPE_BOOL": "BOOLEAN",
    "TYPE_TIMESTAMP": "TIMESTAMP",
    "TYPE_DATE": "DATE",
    "TYPE_BYTES": "BYTES",
    "TYPE_NUMERIC": "NUMERIC",
}


class Refused(Exception):
    """GoogleSQL refused a statement: BigQuery would answer 400 invalidQuery."""


@dataclass(frozen=True)
class Column:
    name: str
    type: Any  # zetasql.types.Type


def _zs() -> Any:
    import zetasql.api as api
    import zetasql.types as types

    _cache_compiled_wasm()
    return api, types


@cache
def _cache_compiled_wasm() -> None:
    """Compiling zetasql's 28 MB WebAssembly module takes about 20 s of CPU in each process
    (each pytest-xdist worker): keep the machine code in wasmtime's cache (~/.cache/wasmtime)."""
    import wasmtime
    from zetasql.core import wasm_client

    class CachingConfig(wasmtime.Config):
        def __init__(self) -> None:
            super().__init__()
            self.cache = True

    wasm_client.Config = CachingConfig


def simple(kind: str) -> Any:
    api, types = _zs()
    return api.TypeFactory.create_simple_type(getattr(types.TypeKind, kind))


def schema_type(field: Mapping[str, Any]) -> Any:
    """A BigQuery schema field (REST form) as a ZetaSQL type."""
    api, _ = _zs()
    if field["type"] in ("RECORD", "STRUCT"):
        kind = api.TypeFactory.create_struct_type(
            [(f["name"], schema_type(f)) for f in field["fields"]]
        )
    else:
        kind = simple(_KINDS[field["type"]])
    return api.TypeFactory.create_array_type(kind) if field.get("mode") == "REPEATED" else kind


def parameter_type(rest: Mapping[str, Any]) -> Any:
    """A `parameterType` of BigQuery's REST API as a ZetaSQL type."""
    api, _ = _zs()
    if rest["type"] == "ARRAY":
        return api.TypeFactory.create_array_type(parameter_type(rest["arrayType"]))
    if rest["type"] == "STRUCT":
        return api.TypeFactory.create_struct_type(
            [(f.get("name", ""), parameter_type(f["type"])) for f in rest["structTypes"]]
        )
    return simple(_KINDS[rest["type"]])


def kind_name(zs_type: Any) -> str:
    _, types = _zs()
    return types.TypeKind(zs_type.type_kind).name


def rest_field(name: str, zs_type: Any) -> dict[str, Any]:
    """A result column as a BigQuery REST schema field."""
    kind = kind_name(zs_type)
    if kind == "TYPE_ARRAY":
        inner = rest_field(name, zs_type.array_type.element_type)
        return {**inner, "mode": "REPEATED"}
    if kind == "TYPE_STRUCT":
        fields = [rest_field(f.field_name, f.field_type) for f in zs_type.struct_type.field]
        return {"name": name, "type": "RECORD", "mode": "NULLABLE", "fields": fields}
    return {"name": name, "type": REST_TYPES[kind], "mode": "NULLABLE"}


class GoogleSQL:
    """The analyzer with the project's catalog; add tables as statements create them."""

    def __init__(self, dataset: str = "openimages") -> None:
        _, types = _zs()
        self.dataset = dataset  # `dataset.table` resolves too
        self._lock = threading.Lock()
        self.language = types.LanguageOptions.maximum_features()
        self.language.reserved_keywords.append("QUALIFY")
        self.tables: dict[str, list[Column]] = {}
        self._built: Any = None
        for name in (*tables.LOADED, tables.CLASSIFICATIONS):
            fields = tables.spec(name).fields
            self.tables[name] = [Column(f["name"], schema_type(f)) for f in fields]
        for derived in tables.DERIVED:
            self.add_table(derived.name, self.output_columns(derived.select))

    def _catalog(self) -> Any:
        if self._built is None:
            self._built = self._build_catalog()
        return self._built

    def _build_catalog(self) -> Any:
        api, types = _zs()
        builder = api.CatalogBuilder("bigquery")
        for name, columns in self.tables.items():
            table = api.TableBuilder(name)
            for column in columns:
                table.add_column(column.name, column.type)
            builder.add_table(table.build())
        options = types.ZetaSQLBuiltinFunctionOptions(language_options=self.language)
        catalog = builder.with_builtin_functions(options).build()
        catalog.catalog.append(types.SimpleCatalog(name=self.dataset, table=list(catalog.table)))
        return catalog

    def analyze(self, sql: str, params: Mapping[str, Any] | None = None) -> Any:
        """The resolved statement; `params` maps a name to its ZetaSQL type. Raises Refused."""
        api, types = _zs()
        from zetasql.core.exceptions import ZetaSQLError

        options = types.AnalyzerOptions(
            language_options=self.language,
            query_parameters=[
                types.AnalyzerOptions.QueryParameter(name=name, type=kind)
                for name, kind in (params or {}).items()
            ],
        )
        with self._lock:
            try:
                return api.Analyzer(options, self._catalog()).analyze_statement(sql)
            except ZetaSQLError as exc:
                raise Refused(str(exc)) from exc

    def output_columns(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Column]:
        stmt = self.analyze(sql, params)
        return [Column(c.name, c.column.type) for c in stmt.output_column_list]

    def add_table(self, name: str, columns: Sequence[Column]) -> None:
        with self._lock:
            self.tables[name] = list(columns)
            self._built = None


@cache
def shared() -> GoogleSQL:
    """One analyzer per test session: loading the WebAssembly module takes 10-25 s."""
    return GoogleSQL()


def available() -> bool:
    try:
        import zetasql.api  # noqa: F401
    except ImportError:
        return False
    return True
