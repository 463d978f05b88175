"""The small, slowly changing tables (classes, relation types), held in memory per process."""

from __future__ import annotations

import bisect
import heapq
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Generic, TypeVar

from .dataset.hierarchy import ROOT, ROOT_NAME, Edge, Hierarchy
from .logs import log
from .patterns import Like
from .warehouse import Warehouse

T = TypeVar("T")
LIKE_CACHE_BUDGET = 1_000_000  # matches held by a catalog's pattern caches (~8 MB)
MAX_EDITS = 2  # "did you mean" looks this many edits away, at most
WORD_BREAKS = " -(/,&"  # a word of a class name starts after one of these

# The small tables in one statement (one job on BigQuery): a row with a Relation is a
# relation type, one with a Kind a hierarchy edge (Label under Parent) or, for Kind
# 'Below', the images of Label and the classes below it; any other a class.
CATALOG_SQL = """SELECT LabelId, Label, Description, NumImages,
       CAST(NULL AS STRING) AS Relation, CAST(NULL AS INT64) AS NumRelations,
       CAST(NULL AS STRING) AS Parent, CAST(NULL AS STRING) AS Kind
FROM class_counts
UNION ALL
SELECT NULL, NULL, NULL, NumImages, Relation, NumRelations, NULL, NULL FROM relation_counts
UNION ALL
SELECT NULL, Child, NULL, NULL, NULL, NULL, Parent, Kind FROM class_hierarchy
UNION ALL
SELECT NULL, Label, NULL, NumImages, NULL, NULL, NULL, 'Below' FROM subtree_counts"""


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
    hierarchy: Hierarchy = field(default_factory=Hierarchy, compare=False, repr=False)
    # images of a class with subclasses, or of any class below it, each counted once
    below_counts: dict[str, int] = field(default_factory=dict, compare=False, repr=False)
    _like: Results[int] = field(default_factory=Results, compare=False, repr=False)
    _relations_like: Results[str] = field(default_factory=Results, compare=False, repr=False)

    @cached_property
    def by_label(self) -> dict[str, ClassInfo]:
        return {c.label: c for c in self.classes}

    @cached_property
    def by_id(self) -> dict[int, ClassInfo]:
        return {c.label_id: c for c in self.classes}

    @cached_property
    def label_rows(self) -> int:
        """Rows of labels_by_image: (image, class) pairs in all."""
        return sum_images(self.classes)

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

    def named_by(self, label: str) -> ClassInfo | None:
        """The class a model's label names: the whole label, else the first part of a comma
        list ("hotdog, hot dog, red hot") that is a class; any case, `_` read as a space."""
        for part in (label, *label.split(",")):
            found = self.find(part.replace("_", " "))
            if found is not None:
                return found
        return None

    def class_of(self, label: str) -> ClassInfo | None:
        """A class by label; the hierarchy's root and its other classes with no row too."""
        found = self.by_label.get(label)
        if found is None and label in self.hierarchy:
            name = ROOT_NAME if label == ROOT else label
            found = ClassInfo(label, name, 0, 0)
        return found

    def find_in_hierarchy(self, description: str) -> ClassInfo | None:
        found = self.find(description)
        if found is None and description.strip().lower() == ROOT_NAME.lower():
            found = self.class_of(ROOT)
        return found

    def with_subclasses(self, c: ClassInfo) -> list[ClassInfo]:
        """`c` and every class below it (Subcategory edges) that the data knows, in that order."""
        below = (self.by_label.get(label) for label in self.hierarchy.below(c.label))
        return [c, *(b for b in below if b is not None and b != c)]

    def images_below(self, c: ClassInfo) -> int:
        """Images of `c` or of a class below it, each once."""
        return self.below_counts.get(c.label, c.num_images)

    @cached_property
    def _by_length(self) -> dict[int, list[tuple[int, str, ClassInfo]]]:
        """Names of the classes with images, lower-cased, by length, with their letters."""
        out: dict[int, list[tuple[int, str, ClassInfo]]] = {}
        for c in self.with_images:
            name = c.description.lower()
            out.setdefault(len(name), []).append((_letters(name), name, c))
        return out

    @cached_property
    def _word_keys(self) -> tuple[list[str], list[ClassInfo]]:
        """Every name from each of its word starts ("wild cat", "cat"), sorted: a prefix of
        any word finds the name by bisection."""
        pairs = sorted(
            (c.description[i:].lower(), n)
            for n, c in enumerate(self.with_images)
            for i in range(len(c.description))
            if (i == 0 or c.description[i - 1] in WORD_BREAKS) and c.description[i] != " "
        )
        classes = self.with_images
        return [k for k, _ in pairs], [classes[n] for _, n in pairs]

    def complete(self, prefix: str, n: int = 10) -> list[ClassInfo]:
        """Classes with a word starting with `prefix` (case-insensitive), most images first:
        "cat" finds Cat, Caterpillar and Wild cat. For type-ahead."""
        needle = " ".join(prefix.lower().split())
        if not needle:
            return []
        keys, classes = self._word_keys
        start = bisect.bisect_left(keys, needle)
        end = bisect.bisect_left(keys, needle + "\U0010ffff", start)
        hits = set(classes[start:end])
        return heapq.nsmallest(n, hits, key=lambda c: (-c.num_images, c.description))

    def suggest(self, text: str, n: int = 5) -> list[ClassInfo]:
        """Classes named like `text`, for "did you mean": the closest spellings first (at most
        MAX_EDITS Damerau-Levenshtein edits, one for names up to 4 letters), then names that
        contain it; most images first within each. Only names within the edit bound in
        length are compared, and only those that share enough letters."""
        needle = " ".join(text.lower().split())
        if not needle:
            return []
        bound = 1 if len(needle) <= 4 else MAX_EDITS
        letters = _letters(needle)
        ranked: dict[ClassInfo, tuple[int, int, str]] = {}
        for length in range(len(needle) - bound, len(needle) + bound + 1):
            for has, name, c in self._by_length.get(length, ()):
                # each edit adds or removes at most one distinct letter: most names stop here
                if (letters & ~has).bit_count() > bound or (has & ~letters).bit_count() > bound:
                    continue
                d = edit_distance(needle, name, bound)
                if d <= bound:
                    ranked[c] = (d, -c.num_images, c.description)
        if len(ranked) < n:
            for names in self._by_length.values():
                for _, name, c in names:
                    if needle in name and c not in ranked:
                        ranked[c] = (bound + 1, -c.num_images, c.description)
        return heapq.nsmallest(n, ranked, key=ranked.__getitem__)

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
    edges: list[Edge] = []
    below: dict[str, int] = {}
    for r in warehouse.query(CATALOG_SQL):
        if r["Kind"] == "Below":
            below[r["Label"]] = int(r["NumImages"])
        elif r["Kind"] is not None:
            edges.append(Edge(r["Parent"], r["Label"], r["Kind"]))
        elif r["Relation"] is None:
            classes.append(ClassInfo(r["Label"], r["Description"], int(r["NumImages"]),
                                     int(r["LabelId"])))  # fmt: skip
        else:
            relations.append(RelationInfo(r["Relation"], int(r["NumRelations"]),
                                          int(r["NumImages"])))  # fmt: skip
    relations.sort(key=lambda r: r.relation)
    return Catalog(tuple(classes), tuple(relations), Hierarchy(tuple(edges)), below)


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


def _letters(text: str) -> int:
    """The distinct characters of `text` as bits of an int (distinct characters may share a
    bit, so counting bits never counts more letters than there are)."""
    bits = 0
    for ch in text:
        bits |= 1 << (ord(ch) % 64)
    return bits


def edit_distance(a: str, b: str, bound: int) -> int:
    """Damerau-Levenshtein distance (optimal string alignment: insert, delete, substitute,
    swap two neighbours) of `a` and `b`, or `bound + 1` as soon as it must exceed `bound`."""
    if abs(len(a) - len(b)) > bound:
        return bound + 1
    before: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            d = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                d = min(d, before[j - 2] + 1)
            current[j] = d
        if min(current) > bound:
            return bound + 1
        before, previous = previous, current
    return min(previous[-1], bound + 1)


def sum_images(classes: Iterable[ClassInfo]) -> int:
    return sum(c.num_images for c in classes)
