"""The local home's key index: every label's ImageKeys, sorted, in a file read through mmap.

A page of one class's images in ImageId order is a binary search and a slice here (a few
microseconds), where the same page as a DuckDB statement costs about a millisecond however
small, most of it fixed. The file mirrors `labels_by_label` row for row, so a page read here
equals the statement's (`oie.explore.SEARCH_AFTER`, `SEARCH_BEFORE`).

Layout, little-endian int64s: MAGIC, the token of the import it was built from, the number
of offsets (largest LabelId + 2), the number of keys; then the offsets (label L's keys are
keys[offsets[L]:offsets[L + 1]]); then the keys, ordered by (LabelId, ImageKey). The token
is also kept in the warehouse (`KEY_INDEX_TABLE`), so a file left from another import is
never read: `DuckDBWarehouse.key_index` checks it and builds the file again.
"""

from __future__ import annotations

import mmap
import os
import secrets
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from pathlib import Path
from typing import Any

MAGIC = 0x3153_5945_4B45_494F  # b"OIEKEYS1", little-endian
HEADER = 4  # int64s before the offsets
CHUNK_ROWS = 4_000_000  # rows fetched at a time while building (about 32 MB)
KEY_INDEX_TABLE = "key_index_token"  # one row: the token of the file built from these tables


class KeyIndexError(ValueError):
    """The file is not a key index of this import."""


class KeyIndex:
    """A read-only view of a key index file; safe to share between threads."""

    def __init__(self, path: Path, token: int):
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size < HEADER * 8 or size % 8:
                raise KeyIndexError(f"{path}: {size} bytes is no key index")
            self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        self._all = memoryview(self._map).cast("q")
        magic, found, slots, keys = self._all[:HEADER].tolist()
        if magic != MAGIC or found != token or HEADER + slots + keys != len(self._all):
            self.close()
            raise KeyIndexError(f"{path} is not the key index of this import")
        self._offsets = self._all[HEADER : HEADER + slots]
        self._base = HEADER + slots

    def keys(self, label_id: int, start: int, n: int, backward: bool = False) -> list[int]:
        """Up to `n` keys of the label from `start` on (>=), or back from it (<=, descending)."""
        if not 0 <= label_id < len(self._offsets) - 1 or n <= 0:
            return []
        lo = self._base + self._offsets[label_id]
        hi = self._base + self._offsets[label_id + 1]
        if backward:
            end = bisect_right(self._all, start, lo, hi)
            return self._all[max(lo, end - n) : end].tolist()[::-1]
        at = bisect_left(self._all, start, lo, hi)
        return self._all[at : min(hi, at + n)].tolist()

    def close(self) -> None:
        for view in (getattr(self, "_offsets", None), self._all):
            if view is not None:
                view.release()
        self._map.close()


def build(path: Path, query: Callable[[str, list[Any]], Any]) -> int:
    """Write the key index of `labels_by_label` to `path` (atomically); returns its token.

    `query(sql, params)` runs a statement and returns a DuckDB result (`fetchall`,
    `fetchnumpy`); numpy is needed here only, in the local home that has it.
    """
    import numpy as np

    counts = dict(query("SELECT LabelId, COUNT(*) FROM labels_by_label GROUP BY LabelId",
                        []).fetchall())  # fmt: skip
    if min(counts, default=0) < 0:
        raise KeyIndexError("labels_by_label has a negative LabelId")
    slots = max(counts, default=-1) + 2
    sizes = np.zeros(slots, dtype="<i8")
    for label, count in counts.items():
        sizes[label + 1] = count
    offsets = np.cumsum(sizes, dtype="<i8")
    token = secrets.randbits(63)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        with open(partial, "wb") as out:
            np.array([MAGIC, token, slots, int(offsets[-1])], dtype="<i8").tofile(out)
            offsets.tofile(out)
            first = 0
            while first < slots - 1:  # whole labels, about CHUNK_ROWS rows at a time
                last = int(np.searchsorted(offsets, offsets[first] + CHUNK_ROWS, "right")) - 1
                last = min(max(last, first + 1), slots - 1)
                chunk = query(
                    "SELECT ImageKey FROM labels_by_label WHERE LabelId >= ? AND LabelId < ? "
                    "ORDER BY LabelId, ImageKey", [first, last],
                ).fetchnumpy()["ImageKey"]  # fmt: skip
                np.asarray(chunk, dtype="<i8").tofile(out)
                first = last
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return token
