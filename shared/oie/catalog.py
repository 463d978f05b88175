"""The small, slowly changing tables (classes, relation types), held in memory per process."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Generic, TypeVar

from .logs import log
from .patterns import Like
from .warehouse import Warehouse

T = TypeVar("T")
LIKE_CACHE_BUDGET = 1_000_000  # matches held by a catalog's pattern caches (~8 MB)

# Both small tables in one statement (one job on BigQuery): a row with a Relation is a
# relation type, any other a class.
CATALOG_SQL = """SELECT LabelId, Label, Description, NumImages,
       CAST(NULL AS STRING) AS Relation, CAST(NULL AS INT64) AS NumRelations
FROM class_counts
UNION ALL
SELECT NULL, NULL, NULL, NumImages, Relation, NumRelations FROM relation_counts"""


@dataclass(frozen=True)
class ClassInfo:
    label: str
    description: str
    num_images: int
    label_id: int = 0  # the warehouse's number for the label (class_ids)


@dataclass(frozen=True)
class RelationInfo:
    relation: str
    num_relations: int
    num_images: int


class Results(Generic[T]):
    """A bounded, thread-safe LRU of pattern to matches, sized by the matches it holds.

    A pattern such as `_%` matches every class; bounding entries alone would let a few
    thousand such patterns hold millions of references.
    """

    def __init__(self, budget: int = LIKE_CACHE_BUDGET):
        self._budget, self._held = budget, 0
        self._items: OrderedDict[str, tuple[T, ...]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, compute: Callable[[], Iterable[T]]) -> tuple[T, ...]:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
        found = tuple(compute())  # outside the lock: two first callers both compute, once each
        with self._lock:
            if key not in self._items:
                self._items[key] = found
                self._held += len(found) + 1
                while self._held > self._budget and len(self._items) > 1:
                    _, dropped = self._items.popitem(last=False)
                    self._held -= len(dropped) + 1
        return found


@dataclass(frozen=True)
class Catalog:
    classes: tuple[ClassInfo, ...]
    relations: tuple[RelationInfo, ...]
    _like: Results[int] = field(default_factory=Results, compare=False, repr=False)
    _relations_like: Results[str] = field(default_factory=Results, compare=False, repr=False)

    @cached_property
    def by_label(self) -> dict[str, ClassInfo]:
        return {c.label: c for c in self.classes}

    @cached_property
    def by_id(self) -> dict[int, ClassInfo]:
        return {c.label_id: c for c in self.classes}

    @cached_property
    def by_description(self) -> dict[str, ClassInfo]:
        """Lower-cased name to class; where two classes share a name, the one with most images."""
        out: dict[str, ClassInfo] = {}
        for c in sorted(self.classes, key=lambda c: (c.num_images, c.label)):
            out[c.description.lower()] = c
        return out

    @cached_property
    def with_images(self) -> tuple[ClassInfo, ...]:
        """Classes that have images, by name: what /classes lists."""
        return tuple(
            sorted(
                (c for c in self.classes if c.num_images > 0),
                key=lambda c: (c.description.lower(), c.label),
            )
        )

    def find(self, description: str) -> ClassInfo | None:
        return self.by_description.get(description.strip().lower())

    def suggest(self, text: str, n: int = 5) -> list[ClassInfo]:
        """Classes whose name contains `text`, most images first: for "did you mean"."""
        needle = text.strip().lower()
        if not needle:
            return []
        hits = [c for c in self.classes if needle in c.description.lower() and c.num_images]
        return sorted(hits, key=lambda c: (-c.num_images, c.description))[:n]

    def label_ids_like(self, pattern: str) -> tuple[int, ...]:
        """Ids of the classes whose name matches a LIKE pattern, in order (cached)."""
        match = Like.of(pattern)
        return self._like.get(
            pattern, lambda: sorted(c.label_id for c in self.classes if match(c.description))
        )

    def relations_like(self, pattern: str) -> tuple[str, ...]:
        """Relation types matching a LIKE pattern, in order (cached)."""
        match = Like.of(pattern)
        return self._relations_like.get(
            pattern, lambda: (r.relation for r in self.relations if match(r.relation))
        )


def load_catalog(warehouse: Warehouse) -> Catalog:
    classes: list[ClassInfo] = []
    relations: list[RelationInfo] = []
    for r in warehouse.query(CATALOG_SQL):
        if r["Relation"] is None:
            classes.append(ClassInfo(r["Label"], r["Description"], int(r["NumImages"]),
                                     int(r["LabelId"])))  # fmt: skip
        else:
            relations.append(RelationInfo(r["Relation"], int(r["NumRelations"]),
                                          int(r["NumImages"])))  # fmt: skip
    relations.sort(key=lambda r: r.relation)
    return Catalog(tuple(classes), tuple(relations))


@dataclass
class _Load:
    """One load in flight: those who need its outcome wait on `done`."""

    done: threading.Event = field(default_factory=threading.Event)
    value: Catalog | None = None
    error: BaseException | None = None


class CachedCatalog:
    """The catalog, loaded on first use and refreshed once `ttl` seconds old; thread-safe.

    The first load is the only one anybody waits for: every caller then waits for that one
    load. Later, the first caller to see the catalog old refreshes it while the others keep
    the one they have. A refresh that fails keeps the old catalog, is logged, and is tried
    again after `retry_s` (doubling up to `ttl`), not on every request.
    """

    def __init__(
        self,
        loader: Callable[[], Catalog],
        ttl: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        retry_s: float = 5.0,
    ):
        self._loader, self._ttl, self._clock, self._retry_s = loader, ttl, clock, retry_s
        self._lock = threading.Lock()  # held for bookkeeping only, never during a load
        self._value: Catalog | None = None
        self._loaded_at = 0.0
        self._load: _Load | None = None
        self._failures = 0  # refreshes failed in a row
        self._retry_at = 0.0

    def get(self) -> Catalog:
        with self._lock:
            now = self._clock()
            stale = self._value
            if stale is not None and (
                now - self._loaded_at <= self._ttl or self._load is not None or now < self._retry_at
            ):
                return stale
            load, mine = self._load, self._load is None
            if load is None:
                load = self._load = _Load()
        if not mine:  # only when there is nothing stale to give
            load.done.wait()
            if load.error is not None:
                raise load.error
            assert load.value is not None
            return load.value
        return self._run(load, stale)

    def _run(self, load: _Load, stale: Catalog | None) -> Catalog:
        try:
            value = self._loader()
        except BaseException as exc:
            keep = stale is not None and isinstance(exc, Exception)
            with self._lock:
                self._load = None
                if keep:
                    self._failures += 1
                    backoff = min(self._retry_s * 2 ** (self._failures - 1),
                                  max(self._ttl, self._retry_s))  # fmt: skip
                    self._retry_at = self._clock() + backoff
            load.error = exc
            load.done.set()
            if not keep:
                raise
            log("WARNING", "the catalog could not be refreshed; the old one is kept",
                error=f"{type(exc).__name__}: {exc}", retry_in_s=round(backoff, 1),
                age_s=round(self._clock() - self._loaded_at))  # fmt: skip
            assert stale is not None
            return stale
        with self._lock:
            self._value, self._loaded_at = value, self._clock()
            self._load, self._failures, self._retry_at = None, 0, 0.0
        load.value = value
        load.done.set()
        return value

    def invalidate(self) -> None:
        """Forget the catalog: the next caller loads it again, and the others wait."""
        with self._lock:
            self._value = None


def sum_images(classes: Iterable[ClassInfo]) -> int:
    return sum(c.num_images for c in classes)
