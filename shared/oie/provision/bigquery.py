"""BigQuery, through the project's adapter (`BigQueryWarehouse`): the dataset, the tables of
infra/schemas/*.json, the course CSVs loaded from the data bucket, the derived tables."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import tables
from ..dataset.sources import Asset
from .steps import Result, Run, Step, noted
from .storage import staged_uri

if TYPE_CHECKING:
    from google.cloud import bigquery

    from ..warehouse.bigquery_adapter import BigQueryWarehouse

# Spellings of one BigQuery type in the REST API (legacy) and in standard SQL.
_TYPE_ALIASES = {"STRUCT": "RECORD", "FLOAT64": "FLOAT", "INT64": "INTEGER", "BOOL": "BOOLEAN"}


def table_names() -> list[str]:
    """The tables that infra/schemas/*.json describe."""
    folder = tables.schema_file(tables.CLASSIFICATIONS).parent
    return sorted(path.stem for path in folder.glob("*.json"))


def ensure_dataset(wh: BigQueryWarehouse, location: str) -> Result:
    """Create the dataset in `location` if missing; say so if it is elsewhere."""
    found, created = wh.ensure_dataset(location)
    notes = []
    if (found.location or "").lower() != location.lower():
        notes.append(f"in {found.location}, not {location}: a dataset cannot move")
    return noted("created" if created else "exists", notes)


def _kind(field: dict[str, Any]) -> str:
    kind = str(field.get("type", "")).upper()
    mode = str(field.get("mode") or "NULLABLE").upper()
    return f"{mode} {_TYPE_ALIASES.get(kind, kind)}"


def merge_fields(
    have: list[dict[str, Any]], want: list[dict[str, Any]], prefix: str = ""
) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """`have` plus the fields of `want` it lacks, nested ones too: (fields, added, conflicts).

    Existing fields are kept as they are, extra ones included; a field whose type or mode
    differs is reported in `conflicts`, never changed. Names compare case-insensitively, as
    BigQuery's do.
    """
    merged = [dict(field) for field in have]
    index = {field["name"].lower(): i for i, field in enumerate(merged)}
    added: list[str] = []
    conflicts: list[str] = []
    for field in want:
        dotted = prefix + field["name"]
        i = index.get(field["name"].lower())
        if i is None:
            merged.append(field)
            added.append(dotted)
            continue
        old = merged[i]
        if _kind(old) != _kind(field):
            conflicts.append(f"{dotted} is {_kind(old)}, not {_kind(field)}: left as is")
        elif _kind(field).endswith("RECORD"):
            sub, sub_added, sub_conflicts = merge_fields(
                old.get("fields", []), field.get("fields", []), dotted + "."
            )
            if sub_added:
                merged[i] = {**old, "fields": sub}
            added += sub_added
            conflicts += sub_conflicts
    return merged, added, conflicts


def _partitioning(table: bigquery.Table) -> str | None:
    part = table.time_partitioning
    return f"{part.type_} {part.field or '_PARTITIONTIME'}" if part else None


def ensure_table(wh: BigQueryWarehouse, spec: tables.TableSpec) -> Result:
    """Create the table from its JSON (the adapter's one way), or add the columns it lacks;
    never drop, never retype."""
    from google.cloud import bigquery

    if wh.ensure_table(spec):
        return Result("created")
    want = wh.table(spec)
    have = wh.client.get_table(want.reference)
    fields, added, notes = merge_fields(
        [f.to_api_repr() for f in have.schema], [f.to_api_repr() for f in want.schema]
    )
    if (have.clustering_fields or []) != (want.clustering_fields or []):
        notes.append(f"clustered by {have.clustering_fields}, not {want.clustering_fields}")
    if _partitioning(have) != _partitioning(want):
        notes.append(f"partitioned by {_partitioning(have)}, not {_partitioning(want)}")
    if not added:
        return noted("exists", notes)
    have.schema = [bigquery.SchemaField.from_api_repr(f) for f in fields]
    wh.client.update_table(have, ["schema"])  # with the etag read: a concurrent change fails
    return noted("updated", [f"added {', '.join(added)}"])


def load_table(wh: BigQueryWarehouse, spec: tables.TableSpec, uri: str, *,
               reload: bool = False, changed: bool = False) -> Result:  # fmt: skip
    """Load `uri` (a course CSV) into the table, replacing its rows, unless it has rows."""
    rows = wh.row_count(spec.name) or 0
    if rows and not reload:
        hint = "; its CSV changed: --reload-data loads it" if changed else ""
        return Result("kept", f"kept ({rows} rows{hint})", rows)
    loaded = wh.load_uri(spec, uri)
    return Result("loaded", f"loaded {loaded} rows", loaded)


def derive_table(wh: BigQueryWarehouse, derived: tables.Derived, *, rebuild: bool) -> Result:
    """Build one derived table from the loaded ones (CREATE OR REPLACE), or keep it."""
    if rebuild:
        wh.derive(derived.name, derived.select, derived.order_by)
    rows = wh.row_count(derived.name) or 0
    status = "derived" if rebuild else "kept"
    return Result(status, f"{status} ({rows} rows)", rows)


def _label(run: Run, table: str) -> str:
    return f"{run.config.dataset}.{table}"


def dataset_step(run: Run) -> Step:
    c = run.config
    return Step("dataset", f"{c.project}.{c.dataset}", f"create in {c.location} if missing",
                lambda: ensure_dataset(run.clients.warehouse, c.location))  # fmt: skip


def table_step(run: Run, name: str) -> Step:
    source = tables.schema_file(name).name
    return Step("table", _label(run, name),
                f"create from {source} if missing, else add the columns it lacks",
                lambda: ensure_table(run.clients.warehouse, tables.spec(name)))  # fmt: skip


def load_step(run: Run, asset: Asset) -> Step:
    uri = staged_uri(run, asset)

    def apply() -> Result:
        changed = asset.table in run.changed
        spec = tables.spec(asset.table)
        done = load_table(run.clients.warehouse, spec, uri, reload=run.config.reload_data,
                          changed=changed)  # fmt: skip
        run.loaded |= done.status == "loaded"
        return done

    when = "" if run.config.reload_data else " unless it has rows"
    return Step("table", _label(run, asset.table), f"load {uri}{when} (WRITE_TRUNCATE)", apply)


def derive_step(run: Run, derived: tables.Derived) -> Step:
    def apply() -> Result:
        wh = run.clients.warehouse
        if run.rebuild is None:  # once, before the first is rebuilt
            run.rebuild = run.loaded or any(wh.row_count(d.name) is None for d in tables.DERIVED)
        return derive_table(wh, derived, rebuild=run.rebuild)

    return Step("table", _label(run, derived.name), "derive after a load, or if one is missing",
                apply)  # fmt: skip
