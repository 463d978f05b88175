"""Import Open Images CSVs into a warehouse: check every row, load, derive the fast tables.

A file is read and checked in full before any table changes, so a wrong file leaves the
old tables as they were. Loads replace their table, so importing twice never duplicates.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import OIEError
from ..tables import DERIVED, HIERARCHY, SCHEMAS, spec
from ..warehouse import Warehouse
from . import hierarchy
from .formats import BadRow, Format, detect, expected

MAX_BAD_FRACTION = 0.1  # more malformed rows than this: the file is not what it claims
SHOWN_BAD_ROWS = 5

Progress = Callable[[int], None]  # called with bytes read since the last call


class ImportFailed(OIEError, ValueError):
    """A file that cannot be imported; nothing was changed."""

    status = 400


@dataclass
class FileReport:
    table: str
    path: Path
    format: str = ""
    rows: int = 0
    skipped: int = 0  # rows the format says to leave out (e.g. Confidence 0)
    bad: int = 0
    bad_examples: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = f"{self.table}: {self.rows:,} rows from {self.path} ({self.format})"
        if self.skipped:
            text += f", {self.skipped:,} skipped by design"
        if self.bad:
            text += f", {self.bad:,} malformed rows left out:\n    " + "\n    ".join(
                self.bad_examples
            )
        return text


def lines_of(path: Path, progress: Progress | None) -> Iterator[str]:
    """A file's lines, decoded (bad bytes replaced), telling `progress` of each MiB read."""
    with open(path, "rb") as raw:
        pending = 0
        for line in raw:
            pending += len(line)
            if progress and pending >= 1 << 20:
                progress(pending)
                pending = 0
            yield line.decode("utf-8", errors="replace")
        if progress and pending:
            progress(pending)


def check_file(
    table: str, path: Path, out: io.TextIOBase | None = None, progress: Progress | None = None
) -> FileReport:
    """Read and check `path` as a `table` file; write the clean rows as CSV to `out`."""
    report = FileReport(table, path)
    if not path.is_file():
        raise ImportFailed(f"{path}: no such file")
    reader = csv.reader(lines_of(path, progress))
    first = next(reader, None)
    if first is None:
        raise ImportFailed(f"{path} is empty; expected a {table} file ({expected(table)})")
    fmt: Format | None = detect(table, first)
    if fmt is None:
        raise ImportFailed(
            f"{path} is not a {table} file: its first row is {','.join(first)[:120]!r}; "
            f"expected {expected(table)}"
        )
    report.format = fmt.name
    writer = csv.writer(out, lineterminator="\n") if out is not None else None
    if writer:
        writer.writerow(name for name, _ in SCHEMAS[table])
    rows = reader if fmt.header else _chain_first(first, reader)
    start = 2 if fmt.header else 1
    for number, row in enumerate(rows, start=start):
        try:
            if len(row) != fmt.columns:
                raise BadRow(f"{len(row)} columns, expected {fmt.columns}")
            parsed = fmt.parse(row)
        except BadRow as exc:
            report.bad += 1
            if len(report.bad_examples) < SHOWN_BAD_ROWS:
                report.bad_examples.append(f"line {number}: {exc}")
            continue
        if parsed is None:
            report.skipped += 1
            continue
        report.rows += 1
        if writer:
            writer.writerow(parsed)
    total = report.rows + report.bad
    if report.rows == 0 or report.bad > MAX_BAD_FRACTION * total:
        raise ImportFailed(
            f"{path}: {report.bad:,} of {total:,} rows are malformed, so this does not look "
            f"like a {table} file ({fmt.name}). First problems:\n    "
            + "\n    ".join(report.bad_examples or ["no data rows"])
        )
    return report


def _chain_first(first: list[str], rest: Iterator[list[str]]) -> Iterator[list[str]]:
    yield first
    yield from rest


def import_files(
    warehouse: Warehouse,
    files: Mapping[str, Path],
    workdir: Path | None = None,
    progress: Callable[[str, int], Progress] | None = None,
) -> list[FileReport]:
    """Check every file, then load each into its table and rebuild the derived tables.

    `files` maps a table (classes, image_labels, relations) to a CSV path, and may map
    class_hierarchy to the hierarchy's JSON. `progress`, given a label and a size in bytes,
    returns a callback for bytes read.
    """
    unknown = set(files) - {*SCHEMAS, HIERARCHY}
    if unknown:
        known = sorted((*SCHEMAS, HIERARCHY))
        raise ImportFailed(f"unknown table(s) {sorted(unknown)}; known: {known}")
    missing = [t for t in SCHEMAS if t not in files and warehouse.row_count(t) is None]
    if missing:
        raise ImportFailed(f"import {', '.join(missing)} too: the explorer needs {list(SCHEMAS)}")
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=workdir, prefix="import-") as tmp:
        cleaned: dict[str, tuple[Path, FileReport]] = {}
        for table, path in files.items():
            if table == HIERARCHY:
                cleaned[table] = check_hierarchy(path, Path(tmp))
                continue
            clean = Path(tmp) / f"{table}.csv"
            size = path.stat().st_size if path.is_file() else 0
            tick = progress(f"checking {path.name}", size) if progress else None
            with open(clean, "w", newline="", encoding="utf-8") as out:
                cleaned[table] = (clean, check_file(table, path, out, tick))
        for table, (clean, _report) in cleaned.items():
            warehouse.load_csv(table, spec(table).columns, clean, spec(table).cluster_by)
        derive_tables(warehouse, Path(tmp))
    return [report for _clean, report in cleaned.values()]


def check_hierarchy(path: Path, tmp: Path) -> tuple[Path, FileReport]:
    """Read and check the hierarchy's JSON; its edges as a CSV of the table's columns."""
    try:
        edges = hierarchy.read(path)
    except hierarchy.BadHierarchy as exc:
        raise ImportFailed(str(exc)) from None
    clean = tmp / f"{HIERARCHY}.csv"
    _write_edges(clean, edges)
    report = FileReport(HIERARCHY, path, "Open Images class hierarchy (JSON)", rows=len(edges))
    return clean, report


def _write_edges(path: Path, edges: list[hierarchy.Edge]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(name for name, _ in spec(HIERARCHY).columns)
        writer.writerows((e.parent, e.child, e.kind) for e in edges)


def derive_tables(warehouse: Warehouse, workdir: Path | None = None) -> None:
    """Rebuild the sorted copies and counts from the loaded tables.

    A warehouse never given a hierarchy gets an empty one, so the pages and the derived
    tables that read it work (without subclasses) before it is imported.
    """
    if warehouse.row_count(HIERARCHY) is None:
        with tempfile.TemporaryDirectory(dir=workdir, prefix="hierarchy-") as tmp:
            empty = Path(tmp) / f"{HIERARCHY}.csv"
            _write_edges(empty, [])
            warehouse.load_csv(HIERARCHY, spec(HIERARCHY).columns, empty)
    for derived in DERIVED:
        warehouse.derive(derived.name, derived.select, derived.order_by)
    warehouse.indexes()  # built now (the local home's), not on the first page
