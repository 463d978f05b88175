"""The local home's key indexes: three derived tables copied, sorted, into files read
through mmap, so the pages that look up one class or one image need no statement.

A DuckDB statement costs about a millisecond however little it reads, most of it fixed;
here one class's page of ImageKeys, or one image's labels and relations, is a binary search
and a slice (microseconds). Each file mirrors its table row for row, so what is read here
equals what the statement it stands for returns (`oie.explore.SEARCH_AFTER`,
`SEARCH_BEFORE`, `IMAGE`).

A file groups a table's rows by one column: little-endian int64s, MAGIC, the import's token,
the number of groups G, rows R and value columns C; then the G group values, sorted; the
G + 1 offsets (group g's rows are rows[offsets[g]:offsets[g + 1]]); then each value column,
R values. The token is kept in the warehouse too (`KEY_INDEX_TABLE`): a file left from
another import is never read, and `DuckDBWarehouse.indexes` builds the files again.
"""

from __future__ import annotations

import mmap
import os
import secrets
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAGIC = 0x3253_5945_4B45_494F  # b"OIEKEYS2", little-endian
HEADER = 5  # int64s before the group values
CHUNK_ROWS = 4_000_000  # rows fetched at a time while building (about 32 MB a column)
KEY_INDEX_TABLE = "key_index_token"  # one row: the token of the files built from these tables
RELATIONS = "SELECT DISTINCT Relation FROM relations_by_image ORDER BY Relation"

Query = Callable[[str, list[Any]], Any]  # runs a statement; returns a DuckDB result


@dataclass(frozen=True)
class Spec:
    table: str
    group: str
    values: tuple[str, ...]  # expressions; `?` in them takes the relation names
    order: str  # the table's whole sort order, so every column's pass meets rows alike


SPECS = {
    "labels": Spec("labels_by_label", "LabelId", ("ImageKey",), "LabelId, ImageKey"),
    "images": Spec("labels_by_image", "ImageKey", ("LabelId",), "ImageKey, LabelId"),
    "relations": Spec(
        "relations_by_image",
        "ImageKey",
        ("LabelId1", "list_position(?, Relation) - 1", "LabelId2"),
        "ImageKey, LabelId1, Relation, LabelId2",
    ),
}


class KeyIndexError(ValueError):
    """A file that is not a key index of this import."""


class Grouped:
    """One file, read-only; safe to share between threads."""

    def __init__(self, path: Path, token: int):
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size < HEADER * 8 or size % 8:
                raise KeyIndexError(f"{path}: {size} bytes is no key index")
            self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        self._all = memoryview(self._map).cast("q")
        self._views: list[memoryview] = []
        magic, found, groups, rows, columns = self._all[:HEADER].tolist()
        if (
            magic != MAGIC
            or found != token
            or HEADER + 2 * groups + 1 + columns * rows != len(self._all)
        ):
            self.close()
            raise KeyIndexError(f"{path} is not a key index of this import")
        at = HEADER
        self.groups = self._view(at, groups)
        self.offsets = self._view(at + groups, groups + 1)
        at += 2 * groups + 1
        self.columns = [self._view(at + c * rows, rows) for c in range(columns)]

    def _view(self, start: int, n: int) -> memoryview:
        view = self._all[start : start + n]
        self._views.append(view)
        return view

    def rows(self, group: int) -> tuple[int, int]:
        """The rows [lo, hi) of a group (empty if there is none)."""
        g = bisect_left(self.groups, group)
        if g == len(self.groups) or self.groups[g] != group:
            return 0, 0
        return self.offsets[g], self.offsets[g + 1]

    def close(self) -> None:
        for view in (*self._views, self._all):
            view.release()
        self._map.close()


class Indexes:
    """The key indexes of one import: a class's ImageKeys, an image's labels and relations."""

    def __init__(self, base: Path, token: int, relations: list[str]):
        opened: list[Grouped] = []
        try:
            for name in SPECS:
                opened.append(Grouped(path_of(base, name), token))
        except (OSError, KeyIndexError):
            for g in opened:
                g.close()
            raise
        self._labels, self._images, self._relations = opened
        self._names = relations

    def label_keys(self, label_id: int, start: int, n: int, backward: bool = False) -> list[int]:
        """Up to `n` keys of the label from `start` on (>=), or back from it (<=, descending)."""
        lo, hi = self._labels.rows(label_id)
        keys = self._labels.columns[0]
        if n <= 0 or lo == hi:
            return []
        if backward:
            end = bisect_right(keys, start, lo, hi)
            return keys[max(lo, end - n) : end].tolist()[::-1]
        at = bisect_left(keys, start, lo, hi)
        return keys[at : min(hi, at + n)].tolist()

    def image_rows(self, key: int) -> list[dict[str, Any]]:
        """The image's labels, then its relations: the rows `oie.explore.IMAGE` returns."""
        lo, hi = self._images.rows(key)
        rows: list[dict[str, Any]] = [
            {"LabelId1": label, "Relation": None, "LabelId2": None}
            for label in self._images.columns[0][lo:hi].tolist()
        ]
        lo, hi = self._relations.rows(key)
        first, relation, second = (c[lo:hi].tolist() for c in self._relations.columns)
        rows += [
            {"LabelId1": a, "Relation": self._names[r], "LabelId2": b}
            for a, r, b in zip(first, relation, second, strict=True)
        ]
        return rows

    def close(self) -> None:
        for g in (self._labels, self._images, self._relations):
            g.close()


def path_of(base: Path, name: str) -> Path:
    return base.with_name(f"{base.name}.{name}.keys")


def build(base: Path, query: Query, names: list[str]) -> int:
    """Write every key index file beside `base` (each atomically); returns their token.

    `query(sql, params)` runs a DuckDB statement; `names` are the relations as RELATIONS
    lists them. numpy is needed here only, in the local home that has it.
    """
    token = secrets.randbits(63)
    for name, spec in SPECS.items():
        _write(path_of(base, name), spec, token, names, query)
    return token


def _write(path: Path, spec: Spec, token: int, names: list[str], query: Query) -> None:
    import numpy as np

    counted = query(f"SELECT {spec.group} AS g, COUNT(*) AS n FROM {spec.table} "
                    f"GROUP BY g ORDER BY g", []).fetchnumpy()  # fmt: skip
    groups = np.asarray(counted["g"], dtype="<i8")
    offsets = np.concatenate([[0], np.cumsum(counted["n"], dtype="<i8")]).astype("<i8")
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        with open(partial, "wb") as out:
            header = [MAGIC, token, len(groups), int(offsets[-1]), len(spec.values)]
            np.array(header, dtype="<i8").tofile(out)
            groups.tofile(out)
            offsets.tofile(out)
            for value in spec.values:
                params = [names] if "?" in value else []
                first = 0
                while first < len(groups):  # whole groups, about CHUNK_ROWS rows at a time
                    last = int(np.searchsorted(offsets, offsets[first] + CHUNK_ROWS, "right"))
                    last = min(max(last - 1, first + 1), len(groups))
                    chunk = query(
                        f"SELECT {value} AS v FROM {spec.table} WHERE {spec.group} BETWEEN ? "
                        f"AND ? ORDER BY {spec.order}",
                        [*params, int(groups[first]), int(groups[last - 1])],
                    ).fetchnumpy()["v"]  # fmt: skip
                    np.asarray(chunk, dtype="<i8").tofile(out)
                    first = last
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
