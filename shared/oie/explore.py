"""The explorer's core: what each page asks of the warehouse, engine-agnostic.

Queries are BigQuery SQL with @named parameters; user input is only ever a parameter.
Class names and LIKE patterns are resolved against the in-memory catalog first, so the
big tables are only filtered by label ids.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from .catalog import (
    CachedCatalog,
    Catalog,
    ClassInfo,
    RelationInfo,
    load_catalog,
    sum_images,
)
from .keys import MAX_KEY, MIN_KEY, image_id, image_key
from .patterns import Like
from .warehouse import Array, Element, Param, Row, Warehouse, ints, strings

SLICE_ROWS = 20_000  # label rows the first slice of image_search_multiple aims to read
WHOLE_ROWS = 150_000  # up to this many label rows in all, one query reads them at once
KEY_SPACE = MAX_KEY - MIN_KEY + 1

SEARCH_AFTER = """SELECT ImageKey FROM labels_by_label
WHERE LabelId = @label AND ImageKey >= @start ORDER BY ImageKey LIMIT @n"""
SEARCH_BEFORE = """SELECT ImageKey FROM labels_by_label
WHERE LabelId = @label AND ImageKey <= @start ORDER BY ImageKey DESC LIMIT @n"""

# One slice [lo, hi] of the ImageKey space: images in it having exactly @m of the labels.
MULTIPLE = """SELECT ImageKey FROM labels_by_label
WHERE LabelId IN UNNEST(@labels) AND ImageKey BETWEEN @lo AND @hi
GROUP BY ImageKey HAVING COUNT(*) = @m ORDER BY ImageKey {order} LIMIT @n"""
# The same, for a tier only images with one of the @rare labels can reach: those few
# images drive a join, so a common class's millions of rows are probed, not grouped.
MULTIPLE_RARE = """WITH candidates AS (
  SELECT DISTINCT ImageKey FROM labels_by_label
  WHERE LabelId IN UNNEST(@rare) AND ImageKey BETWEEN @lo AND @hi)
SELECT l.ImageKey FROM labels_by_label AS l JOIN candidates AS c ON c.ImageKey = l.ImageKey
WHERE l.LabelId IN UNNEST(@labels) AND l.ImageKey BETWEEN @lo AND @hi
GROUP BY l.ImageKey HAVING COUNT(*) = @m ORDER BY l.ImageKey {order} LIMIT @n"""
# Which of the labels a few images have: by image, or, when the labels have few rows in all,
# by label (each label's run of rows is short, where the images are spread over the table).
MATCHED = """SELECT ImageKey, LabelId FROM {table}
WHERE ImageKey IN UNNEST(@keys) AND LabelId IN UNNEST(@labels)"""
MATCHED_LABELS = MATCHED.format(table="labels_by_image")
MATCHED_BY_LABEL = MATCHED.format(table="labels_by_label")

RELATION_SEARCH = """SELECT ImageKey, LabelId1, Relation, LabelId2 FROM relations_by_image
WHERE (@any1 OR LabelId1 IN UNNEST(@labels1))
  AND (@any_relation OR Relation IN UNNEST(@relations))
  AND (@any2 OR LabelId2 IN UNNEST(@labels2))
ORDER BY ImageKey, LabelId1, Relation, LabelId2 LIMIT @n OFFSET @offset"""

# One image's labels (rows without a Relation) and relations, in one statement.
IMAGE = """SELECT * FROM (
  SELECT LabelId AS LabelId1, CAST(NULL AS STRING) AS Relation, CAST(NULL AS INT64) AS LabelId2
  FROM labels_by_image WHERE ImageKey = @key
  UNION ALL
  SELECT LabelId1, Relation, LabelId2 FROM relations_by_image WHERE ImageKey = @key)
ORDER BY Relation IS NOT NULL, LabelId1, Relation, LabelId2"""

# A whole page of image_search_multiple in one statement, for a warehouse where each
# statement costs a round trip (BigQuery): every image with @min_m to @max_m of the labels,
# past the cursor (@m, @key) in page order (most matched first, then ImageKey), with the
# labels it matched. Clustering by LabelId keeps the scan to the searched classes' rows.
WHOLE = """SELECT ImageKey, COUNT(*) AS Matched, ARRAY_AGG(LabelId ORDER BY LabelId) AS LabelIds
FROM labels_by_label WHERE LabelId IN UNNEST(@labels)
GROUP BY ImageKey
HAVING COUNT(*) BETWEEN @min_m AND @max_m AND {past}
ORDER BY Matched {tier_order}, ImageKey {key_order} LIMIT @n"""
WHOLE_AFTER = WHOLE.format(
    past="(COUNT(*) < @m OR (COUNT(*) = @m AND ImageKey > @key))",
    tier_order="DESC", key_order="ASC",
)  # fmt: skip
WHOLE_BEFORE = WHOLE.format(
    past="(COUNT(*) > @m OR (COUNT(*) = @m AND ImageKey < @key))",
    tier_order="ASC", key_order="DESC",
)  # fmt: skip

# Images with any of the labels (a class and those below it), each once, in one slice. A
# broad group's images are dense in the key space: its slice of labels_by_image, one run of
# rows, is narrower than the many runs (one per label) of labels_by_label.
ANY = """SELECT ImageKey, ARRAY_AGG(LabelId ORDER BY LabelId) AS LabelIds FROM {table}
WHERE LabelId IN UNNEST(@labels) AND ImageKey BETWEEN @lo AND @hi
GROUP BY ImageKey ORDER BY ImageKey {order} LIMIT @n"""

# image_search_multiple with subclasses: each searched class (@groups) stands for itself
# and the classes below it (class_closure); an image matches it through any of them.
GROUPS = """SELECT l.ImageKey AS ImageKey, COUNT(DISTINCT c.Ancestor) AS Matched,
  ARRAY_AGG(DISTINCT c.Ancestor ORDER BY c.Ancestor) AS Matches
FROM labels_by_label AS l JOIN class_closure AS c ON c.LabelId = l.LabelId
WHERE c.Ancestor IN UNNEST(@groups) AND l.LabelId IN UNNEST(@labels)
GROUP BY l.ImageKey
HAVING COUNT(DISTINCT c.Ancestor) BETWEEN @min_m AND @max_m AND {past}
ORDER BY Matched {tier_order}, ImageKey {key_order} LIMIT @n"""
GROUPS_AFTER = GROUPS.format(
    past="(COUNT(DISTINCT c.Ancestor) < @m OR "
         "(COUNT(DISTINCT c.Ancestor) = @m AND l.ImageKey > @key))",
    tier_order="DESC", key_order="ASC",
)  # fmt: skip
GROUPS_BEFORE = GROUPS.format(
    past="(COUNT(DISTINCT c.Ancestor) > @m OR "
         "(COUNT(DISTINCT c.Ancestor) = @m AND l.ImageKey < @key))",
    tier_order="ASC", key_order="DESC",
)  # fmt: skip

# Facets. Of one class: exact, from the pair counts derived at import (each class's top
# tables.PAIR_PARTNERS partners). Of any other search: counted over a sample of its images.
FACETS_OF_CLASS = """SELECT LabelId2 AS LabelId, CAST(NULL AS STRING) AS Relation, NumImages
FROM class_pairs WHERE LabelId1 = @label
UNION ALL
SELECT NULL, Relation, NumImages FROM class_relations WHERE LabelId = @label"""
# The keys come sorted; their range (@lo, @hi) lets the sorted tables skip what lies outside.
# Only the @top most frequent classes are sent (ties at the edge included: RANK).
FACETS_OF_IMAGES = """SELECT * FROM (
  SELECT LabelId, CAST(NULL AS STRING) AS Relation, COUNT(*) AS NumImages
  FROM labels_by_image WHERE ImageKey BETWEEN @lo AND @hi AND ImageKey IN UNNEST(@keys)
  GROUP BY LabelId
  QUALIFY RANK() OVER (ORDER BY COUNT(*) DESC) <= @top)
UNION ALL
SELECT NULL, Relation, COUNT(DISTINCT ImageKey) FROM relations_by_image
WHERE ImageKey BETWEEN @lo AND @hi AND ImageKey IN UNNEST(@keys) GROUP BY Relation"""
# The images of a relation search's first @n relations (a top-n, where DISTINCT would have
# to read every match).
RELATION_IMAGES = """SELECT ImageKey FROM relations_by_image
WHERE (@any1 OR LabelId1 IN UNNEST(@labels1))
  AND (@any_relation OR Relation IN UNNEST(@relations))
  AND (@any2 OR LabelId2 IN UNNEST(@labels2))
ORDER BY ImageKey LIMIT @n"""
# A facet sample: the first @n images with any of the labels, in one slice.
SAMPLE = """SELECT DISTINCT ImageKey FROM {table}
WHERE LabelId IN UNNEST(@labels) AND ImageKey BETWEEN @lo AND @hi ORDER BY ImageKey LIMIT @n"""
FACET_SAMPLE = 1000  # images a facet count reads when no table has it
FACET_CLASSES = 20  # classes listed, most images first

QUERIES = {
    "search_after": SEARCH_AFTER,
    "search_before": SEARCH_BEFORE,
    "multiple_after": MULTIPLE.format(order="ASC"),
    "multiple_before": MULTIPLE.format(order="DESC"),
    "multiple_rare_after": MULTIPLE_RARE.format(order="ASC"),
    "multiple_rare_before": MULTIPLE_RARE.format(order="DESC"),
    "matched_labels": MATCHED_LABELS,
    "matched_by_label": MATCHED_BY_LABEL,
    "relation_search": RELATION_SEARCH,
    "image": IMAGE,
    "whole_after": WHOLE_AFTER,
    "whole_before": WHOLE_BEFORE,
    "any_after": ANY.format(table="labels_by_label", order="ASC"),
    "any_before": ANY.format(table="labels_by_label", order="DESC"),
    "any_dense_after": ANY.format(table="labels_by_image", order="ASC"),
    "any_dense_before": ANY.format(table="labels_by_image", order="DESC"),
    "groups_after": GROUPS_AFTER,
    "groups_before": GROUPS_BEFORE,
    "facets_of_class": FACETS_OF_CLASS,
    "facets_of_images": FACETS_OF_IMAGES,
    "relation_images": RELATION_IMAGES,
    "sample": SAMPLE.format(table="labels_by_label"),
    "sample_dense": SAMPLE.format(table="labels_by_image"),
}

Mode = Literal["any", "all"]


@dataclass(frozen=True)
class Cursor:
    """A position in a keyset-paginated list: rows after (or before) it."""

    image_id: str
    matched: int = 0  # image_search_multiple: the tier (number of matched classes)

    def encode(self) -> str:
        return f"{self.matched}-{self.image_id}" if self.matched else self.image_id


@dataclass
class ClassesPage:
    classes: list[ClassInfo]
    total: int
    offset: int
    limit: int


@dataclass
class Relation:
    image_id: str
    class1: ClassInfo
    relation: str
    class2: ClassInfo


@dataclass
class ImageInfo:
    image_id: str
    classes: list[ClassInfo]
    relations: list[Relation]


@dataclass
class Hit:
    image_id: str
    classes: list[ClassInfo] = field(default_factory=list)


@dataclass
class SearchPage:
    """One page of images, with cursors for the pages around it (None: no such page)."""

    hits: list[Hit]
    limit: int
    next: Cursor | None = None
    previous: Cursor | None = None
    found: list[ClassInfo] = field(default_factory=list)  # the classes searched for
    unknown: list[str] = field(default_factory=list)  # names that are no class
    suggestions: dict[str, list[ClassInfo]] = field(default_factory=dict)
    added: list[ClassInfo] = field(default_factory=list)  # classes below, with subclasses


@dataclass
class RelationPage:
    rows: list[Relation]
    offset: int
    limit: int
    has_next: bool
    unmatched: list[str] = field(default_factory=list)  # patterns that match nothing


@dataclass
class Facets:
    """What else is in a search's images: classes and relation types, with image counts."""

    classes: list[tuple[ClassInfo, int]]
    relations: list[tuple[str, int]]
    exact: bool  # False: counted over the first `sample` images of the search
    sample: int | None = None  # images counted, when a sample


def _tier_start(cursor: Cursor | None, tiers: list[int]) -> tuple[int, int]:
    """Where a one-pass search of tiered pages starts: (tier, ImageKey) of the cursor, or
    before every tier."""
    if cursor is None:
        return max(tiers) + 1, MIN_KEY
    return cursor.matched, image_key(cursor.image_id)


def _past(cursor: Cursor, backward: bool) -> int:
    """The first ImageKey after (or before) a cursor; may fall outside the key space."""
    return image_key(cursor.image_id) + (-1 if backward else 1)


class Explorer:
    """The explorer over one warehouse; safe to share between threads."""

    def __init__(self, warehouse: Warehouse, catalog_ttl: float = 300.0):
        self.warehouse = warehouse
        self._catalog = CachedCatalog(lambda: load_catalog(warehouse), catalog_ttl)

    @property
    def catalog(self) -> Catalog:
        return self._catalog.get()

    def classes(self, offset: int = 0, limit: int = 1000) -> ClassesPage:
        listed = self.catalog.with_images
        return ClassesPage(list(listed[offset : offset + limit]), len(listed), offset, limit)

    def relations(self) -> list[RelationInfo]:
        return list(self.catalog.relations)

    def image_info(self, image_id: str) -> ImageInfo | None:
        catalog = self.catalog
        image_id = image_id.lower()
        indexes = self.warehouse.indexes()
        key = image_key(image_id)
        rows = indexes.image_rows(key) if indexes else self.warehouse.query(IMAGE, {"key": key})
        if not rows:
            return None
        classes = sorted(
            (self._class(catalog, r["LabelId1"]) for r in rows if r["Relation"] is None),
            key=lambda c: (c.description.lower(), c.label),
        )
        relations = [self._relation(catalog, image_id, r) for r in rows if r["Relation"]]
        return ImageInfo(image_id, classes, relations)

    @staticmethod
    def _class(catalog: Catalog, label_id: int) -> ClassInfo:
        return catalog.by_id.get(label_id) or ClassInfo(f"#{label_id}", f"#{label_id}", 0, label_id)

    def _relation(self, catalog: Catalog, image: str, row: dict) -> Relation:
        return Relation(
            image,
            self._class(catalog, row["LabelId1"]),
            row["Relation"],
            self._class(catalog, row["LabelId2"]),
        )

    def image_search(
        self,
        description: str,
        limit: int = 10,
        after: Cursor | None = None,
        before: Cursor | None = None,
        subclasses: bool = False,
    ) -> SearchPage:
        """Images of a class in ImageId order; with `subclasses`, of it or any class below."""
        catalog = self.catalog
        found = catalog.find_in_hierarchy(description) if subclasses else catalog.find(description)
        if found is None:
            return SearchPage(
                [], limit, unknown=[description],
                suggestions={description: catalog.suggest(description)},
            )  # fmt: skip
        group = catalog.with_subclasses(found) if subclasses else [found]
        if len(group) > 1 or not found.label_id:
            return self._search_group(group, limit, after, before)
        backward = before is not None and after is None
        cursor = before if backward else after
        start = _past(cursor, backward) if cursor else MIN_KEY
        keys: list[int] = []
        indexes = self.warehouse.indexes()
        if not MIN_KEY <= start <= MAX_KEY:
            pass
        elif indexes is not None:
            keys = indexes.label_keys(found.label_id, start, limit + 1, backward)
        else:
            rows = self.warehouse.query(
                SEARCH_BEFORE if backward else SEARCH_AFTER,
                {"label": found.label_id, "start": start, "n": limit + 1},
            )
            keys = [r["ImageKey"] for r in rows]
        ids = [image_id(k) for k in keys]
        more = len(ids) > limit
        ids = ids[:limit]
        if backward:
            ids.reverse()
        page = SearchPage([Hit(i, [found]) for i in ids], limit, found=[found])
        if ids:
            has_next = True if backward else more
            has_previous = more if backward else cursor is not None
            page.next = Cursor(ids[-1]) if has_next else None
            page.previous = Cursor(ids[0]) if has_previous else None
        return page

    def _search_group(self, group: list[ClassInfo], limit: int, after: Cursor | None,
                      before: Cursor | None) -> SearchPage:  # fmt: skip
        """Images with any label of `group` (a class, then those below it), each once."""
        catalog = self.catalog
        backward = before is not None and after is None
        cursor = before if backward else after
        start = _past(cursor, backward) if cursor else MIN_KEY
        rows = self._any_rows(group, catalog.images_below(group[0]), limit + 1, start, backward)
        more = len(rows) > limit
        rows = rows[:limit]
        if backward:
            rows.reverse()
        hits = [
            Hit(image_id(r["ImageKey"]), [self._class(catalog, i) for i in r["LabelIds"]])
            for r in rows
        ]
        page = SearchPage(hits, limit, found=[group[0]], added=group[1:])
        if hits:
            has_next = True if backward else more
            has_previous = more if backward else cursor is not None
            page.next = Cursor(hits[-1].image_id) if has_next else None
            page.previous = Cursor(hits[0].image_id) if has_previous else None
        return page

    def _any_rows(self, group: list[ClassInfo], images: int, n: int, start: int,
                  backward: bool) -> list[Row]:  # fmt: skip
        """Up to n images (ImageKey, LabelIds) with any label of `group` from `start` on;
        `images`: about how many images the group has, each once."""
        rows_all = sum_images(group)
        share = 1.0 if rows_all <= WHOLE_ROWS else SLICE_ROWS / rows_all
        return self._any_slices(group, images, n, start, backward, share, "any_")

    def _sample_keys(self, group: list[ClassInfo], images: int) -> list[int]:
        """The first FACET_SAMPLE + 1 images with any label of `group`, by ImageKey."""
        n = FACET_SAMPLE + 1
        rows = self._any_slices(group, images, n, MIN_KEY, False, 2 * n / max(images, 1),
                                "sample")  # fmt: skip
        return [r["ImageKey"] for r in rows]

    def _any_slices(self, group: list[ClassInfo], images: int, n: int, start: int,
                    backward: bool, share: float, kind: str) -> list[Row]:  # fmt: skip
        """`kind` ("any_" or "sample") over labels_by_label, the first slice `share` of the
        key space; over labels_by_image where the group is dense enough to read less."""
        few_queries = getattr(self.warehouse, "prefers_few_queries", False)
        # a slice of labels_by_image expected to hold twice what is asked, if narrow enough
        dense = 2 * n / max(images, 1)
        use_dense = not few_queries and dense * self.catalog.label_rows <= WHOLE_ROWS
        labels = ints(sorted(c.label_id for c in group if c.label_id))
        if not labels.values:
            return []
        if kind == "sample":
            name = "sample_dense" if use_dense else "sample"
        else:
            name = ("any_dense_" if use_dense else "any_") + ("before" if backward else "after")
        share = 1.0 if few_queries else dense if use_dense else min(share, 1.0)
        return self._slices(QUERIES[name], {"labels": labels}, share, start, n, backward)

    def image_search_multiple(
        self,
        descriptions: list[str],
        mode: Mode = "any",
        limit: int = 10,
        after: Cursor | None = None,
        before: Cursor | None = None,
        subclasses: bool = False,
    ) -> SearchPage:
        """Images with any (or all) of the classes: most matched classes first, then ImageId.

        With `subclasses`, an image matches a class through it or any class below it.

        Results come in tiers (images matching k classes, then k-1, ...), each in ImageId
        order. A page is found by reading the ImageKey space in slices sized from what the
        previous slice found, so a page over classes with millions of images reads
        thousands of rows, not millions.
        """
        catalog = self.catalog
        found: list[ClassInfo] = []
        unknown: list[str] = []
        for name in descriptions:
            c = catalog.find_in_hierarchy(name) if subclasses else catalog.find(name)
            if c is None:
                unknown.append(name)
            elif c not in found:
                found.append(c)
        page = SearchPage(
            [], limit, found=found, unknown=unknown,
            suggestions={u: catalog.suggest(u) for u in unknown},
        )  # fmt: skip
        k = len(found)
        if not k:
            return page
        tiers = list(range(k, 0, -1)) if mode == "any" else [k]
        backward = before is not None and after is None
        cursor = before if backward else after
        if cursor is not None and cursor.matched not in tiers:
            cursor = Cursor(cursor.image_id, tiers[0])
        groups = [catalog.with_subclasses(c) for c in found] if subclasses else []
        if any(len(g) > 1 or not g[0].label_id for g in groups):
            return self._search_groups(page, groups, tiers, cursor, limit, backward)
        matched: dict[int, set[int]] | None = None
        if getattr(self.warehouse, "prefers_few_queries", False):
            rows, matched = self._scan_whole(found, tiers, cursor, limit + 1, backward)
        else:
            rows = self._scan_tiers(found, tiers, cursor, limit + 1, backward)
        more = len(rows) > limit
        rows = rows[:limit]
        if backward:
            rows.reverse()
        page.hits = self._hits(found, rows, matched)
        if rows:
            (first, first_m), (last, last_m) = rows[0], rows[-1]
            has_next = True if backward else more
            has_previous = more if backward else cursor is not None
            page.next = Cursor(image_id(last), last_m) if has_next else None
            page.previous = Cursor(image_id(first), first_m) if has_previous else None
        return page

    def _search_groups(
        self,
        page: SearchPage,
        groups: list[list[ClassInfo]],
        tiers: list[int],
        cursor: Cursor | None,
        limit: int,
        backward: bool,
    ) -> SearchPage:
        """image_search_multiple over groups (a class and the classes below it), in one pass."""
        found = page.found
        labels = sorted({c.label_id for g in groups for c in g if c.label_id})
        m, key = _tier_start(cursor, tiers)
        params: dict[str, Param] = {
            "groups": strings(c.label for c in found), "labels": ints(labels),
            "min_m": min(tiers), "max_m": max(tiers), "m": m, "key": key, "n": limit + 1,
        }  # fmt: skip
        rows = []
        if labels:
            rows = self.warehouse.query(GROUPS_BEFORE if backward else GROUPS_AFTER, params)
        more = len(rows) > limit
        rows = rows[:limit]
        if backward:
            rows.reverse()
        page.hits = [
            Hit(image_id(r["ImageKey"]), [c for c in found if c.label in r["Matches"]])
            for r in rows
        ]
        added: dict[str, ClassInfo] = {}
        for c in (c for g in groups for c in g[1:] if c not in found):
            added.setdefault(c.label, c)
        page.added = list(added.values())
        if rows:
            first, last = rows[0], rows[-1]
            has_next = True if backward else more
            has_previous = more if backward else cursor is not None
            page.next = Cursor(image_id(last["ImageKey"]), last["Matched"]) if has_next else None
            page.previous = (
                Cursor(image_id(first["ImageKey"]), first["Matched"]) if has_previous else None
            )
        return page

    def _hits(self, found: list[ClassInfo], rows: list[tuple[int, int]],
              matched: dict[int, set[int]] | None = None) -> list[Hit]:  # fmt: skip
        """The page's images with the classes each matched, in the order they were asked.

        `matched` (ImageKey to label ids) comes with the one-pass search; otherwise the
        images matching only some of the classes are looked up.
        """
        if matched is None:
            matched = {}
            partial = [key for key, m in rows if m < len(found)]
            if partial:
                params = {"keys": ints(partial), "labels": ints(c.label_id for c in found)}
                sql = MATCHED_BY_LABEL if sum_images(found) <= WHOLE_ROWS else MATCHED_LABELS
                for r in self.warehouse.query(sql, params):
                    matched.setdefault(r["ImageKey"], set()).add(r["LabelId"])
        return [
            Hit(
                image_id(key),
                [c for c in found if key not in matched or c.label_id in matched[key]],
            )
            for key, _m in rows
        ]

    def _scan_whole(
        self,
        found: list[ClassInfo],
        tiers: list[int],
        cursor: Cursor | None,
        n: int,
        backward: bool,
    ) -> tuple[list[tuple[int, int]], dict[int, set[int]]]:
        """Up to n (ImageKey, matched) in page order past `cursor`, in one statement."""
        m, key = _tier_start(cursor, tiers)
        params: dict[str, Param] = {
            "labels": ints(c.label_id for c in found), "min_m": min(tiers),
            "max_m": max(tiers), "m": m, "key": key, "n": n,
        }  # fmt: skip
        rows = self.warehouse.query(WHOLE_BEFORE if backward else WHOLE_AFTER, params)
        matched = {r["ImageKey"]: set(r["LabelIds"]) for r in rows}
        return [(r["ImageKey"], r["Matched"]) for r in rows], matched

    def _scan_tiers(
        self,
        found: list[ClassInfo],
        tiers: list[int],
        cursor: Cursor | None,
        n: int,
        backward: bool,
    ) -> list[tuple[int, int]]:
        """Up to n (ImageKey, matched) in page order, starting just past `cursor`."""
        order = list(reversed(tiers)) if backward else tiers
        if cursor is not None:
            order = order[order.index(cursor.matched) :]
        rarest_first = sorted(found, key=lambda c: c.num_images)
        out: list[tuple[int, int]] = []
        for m in order:
            if cursor is not None and m == cursor.matched:
                edge = _past(cursor, backward)
            else:
                edge = MAX_KEY if backward else MIN_KEY
            # An image with m of the k labels has one of the k-m+1 rarest (pigeonhole).
            rare = rarest_first[: len(found) - m + 1]
            out += self._scan_tier(found, rare, m, edge, n - len(out), backward)
            if len(out) >= n:
                break
        return out

    def _scan_tier(
        self,
        found: list[ClassInfo],
        rare: list[ClassInfo],
        m: int,
        edge: int,
        n: int,
        backward: bool,
    ) -> list[tuple[int, int]]:
        """Up to n images matching exactly m labels, from `edge` on, slice by slice."""
        params: dict[str, Param] = {"labels": ints(c.label_id for c in found), "m": m}
        rows_all, rows_rare = sum_images(found), sum_images(rare)
        share = 1.0 if rows_all <= WHOLE_ROWS else SLICE_ROWS / rows_all
        # Few candidates among many rows: let the candidates drive, in slices that hold a
        # few pages' worth of them.
        driven = len(rare) < len(found) and rows_rare * 16 <= rows_all
        if driven:
            params["rare"] = ints(c.label_id for c in rare)
            share = max(share, 4 * n / max(rows_rare, 1))
        name = ("multiple_rare_" if driven else "multiple_") + ("before" if backward else "after")
        rows = self._slices(QUERIES[name], params, share, edge, n, backward)
        return [(r["ImageKey"], m) for r in rows]

    def _slices(self, sql: str, params: dict[str, Param], share: float, edge: int, n: int,
                backward: bool) -> list[Row]:  # fmt: skip
        """Up to n rows of `sql` from `edge` on, reading the key space slice by slice; the
        first slice is `share` of it (1: all of it, in one statement)."""
        width = KEY_SPACE if share >= 1 else max(int(KEY_SPACE * share), 1 << 40)
        out: list[Row] = []
        while MIN_KEY <= edge <= MAX_KEY and len(out) < n:
            if backward:
                lo, hi = max(edge - width + 1, MIN_KEY), edge
            else:
                lo, hi = edge, min(edge + width - 1, MAX_KEY)
            got = self.warehouse.query(sql, {**params, "lo": lo, "hi": hi, "n": n - len(out)})
            out += got
            edge = lo - 1 if backward else hi + 1
            # size the next slice from the density seen so far: about 1.5x what is missing
            need = n - len(out)
            if got and need > 0:
                width = min(max(int(width * 1.5 * need / len(got)), width), width * 16)
            else:
                width *= 8
        return out

    def relation_search(
        self,
        class1: str = "%",
        relation: str = "%",
        class2: str = "%",
        limit: int = 10,
        offset: int = 0,
    ) -> RelationPage:
        """Relations whose parts match SQL LIKE patterns (`%`, `_`), case-insensitively.

        Patterns are matched against the catalog in memory (`oie.patterns`); the warehouse
        only sees the ids and relation names they matched.
        """
        params, unmatched = self._relation_params(class1, relation, class2)
        page = RelationPage([], offset, limit, False, unmatched)
        if unmatched:
            return page
        rows = self.warehouse.query(RELATION_SEARCH, {**params, "n": limit + 1, "offset": offset})
        page.has_next = len(rows) > limit
        catalog = self.catalog
        page.rows = [self._relation(catalog, image_id(r["ImageKey"]), r) for r in rows[:limit]]
        return page

    def _relation_params(self, class1: str, relation: str, class2: str
                         ) -> tuple[dict[str, Param], list[str]]:  # fmt: skip
        """The statement parameters of three patterns, and the patterns that match nothing."""
        catalog = self.catalog
        params: dict[str, Param] = {}
        unmatched = []
        parts: tuple[tuple[str, str, str, Callable[[str], Sequence[int | str]], Element], ...] = (
            ("any1", "labels1", class1, catalog.label_ids_like, "INT64"),
            ("any_relation", "relations", relation, catalog.relations_like, "STRING"),
            ("any2", "labels2", class2, catalog.label_ids_like, "INT64"),
        )
        for any_name, list_name, pattern, resolve, element in parts:
            everything = pattern == "" or Like.of(pattern).everything
            values = () if everything else tuple(resolve(pattern))
            if not everything and not values:
                unmatched.append(pattern)
            params[any_name] = everything
            params[list_name] = Array(element, values)
        return params, unmatched

    def image_search_facets(self, description: str, subclasses: bool = False) -> Facets:
        """Facets of image_search: exact from class_pairs; with subclasses, over a sample."""
        catalog = self.catalog
        found = catalog.find_in_hierarchy(description) if subclasses else catalog.find(description)
        if found is None:
            return Facets([], [], True)
        if not subclasses or (len(catalog.with_subclasses(found)) == 1 and found.label_id):
            rows = self.warehouse.query(FACETS_OF_CLASS, {"label": found.label_id})
            return self._facets(catalog, rows, {found.label}, True)
        keys = self._sample_keys(catalog.with_subclasses(found), catalog.images_below(found))
        return self._count_facets(keys[:FACET_SAMPLE], len(keys) > FACET_SAMPLE, {found.label})

    def image_search_multiple_facets(self, descriptions: list[str], mode: Mode = "any",
                                     subclasses: bool = False) -> Facets:  # fmt: skip
        """Facets over the first FACET_SAMPLE matching images in ImageId order (a uniform
        sample, as ImageIds are hashes), whatever their tier."""
        catalog = self.catalog
        look = catalog.find_in_hierarchy if subclasses else catalog.find
        found = list(dict.fromkeys(c for c in map(look, descriptions) if c is not None))
        if not found:
            return Facets([], [], True)
        searched, n = {c.label for c in found}, FACET_SAMPLE + 1
        if mode == "any":  # an image with any label of any group
            group = [c for f in found for c in (catalog.with_subclasses(f) if subclasses else [f])]
            images = max(catalog.images_below(c) if subclasses else c.num_images for c in found)
            keys = self._sample_keys(list(dict.fromkeys(group)), images)
        elif (subclasses or getattr(self.warehouse, "prefers_few_queries", False)
              or not all(c.label_id for c in found)):  # fmt: skip
            page = self.image_search_multiple(descriptions, mode, FACET_SAMPLE,
                                              subclasses=subclasses)  # fmt: skip
            return self._sample_facets(page, searched)  # one tier: ImageId order
        else:
            rarest = sorted(found, key=lambda c: c.num_images)[:1]
            keys = [key for key, _m in self._scan_tier(found, rarest, len(found), MIN_KEY, n,
                                                       False)]  # fmt: skip
        return self._count_facets(keys[:FACET_SAMPLE], len(keys) > FACET_SAMPLE, searched)

    def relation_search_facets(self, class1: str = "%", relation: str = "%", class2: str = "%"
                               ) -> Facets:  # fmt: skip
        """Facets over the first FACET_SAMPLE images with a matching relation."""
        params, unmatched = self._relation_params(class1, relation, class2)
        if unmatched:
            return Facets([], [], True)
        n = 2 * FACET_SAMPLE  # relations: an image has one or a few
        rows = self.warehouse.query(RELATION_IMAGES, {**params, "n": n})
        keys = list(dict.fromkeys(r["ImageKey"] for r in rows))
        more = len(keys) > FACET_SAMPLE or len(rows) == n
        return self._count_facets(keys[:FACET_SAMPLE], more, set())

    def _sample_facets(self, page: SearchPage, searched: set[str]) -> Facets:
        keys = sorted(image_key(h.image_id) for h in page.hits)
        return self._count_facets(keys, page.next is not None, searched)

    def _count_facets(self, keys: list[int], more: bool, searched: set[str]) -> Facets:
        """Facets over these images (sorted); `more`: the search has others (a sample)."""
        if not keys:
            return Facets([], [], True)
        params: dict[str, Param] = {
            "keys": ints(keys), "lo": keys[0], "hi": keys[-1],
            "top": FACET_CLASSES + len(searched),
        }  # fmt: skip
        rows = self.warehouse.query(FACETS_OF_IMAGES, params)
        facets = self._facets(self.catalog, rows, searched, not more)
        facets.sample = len(keys) if more else None
        return facets

    def _facets(self, catalog: Catalog, rows: list[Row], searched: set[str], exact: bool
                ) -> Facets:  # fmt: skip
        classes = [
            (self._class(catalog, r["LabelId"]), int(r["NumImages"]))
            for r in rows if r["Relation"] is None
        ]  # fmt: skip
        classes = [(c, n) for c, n in classes if c.label not in searched]
        classes.sort(key=lambda cn: (-cn[1], cn[0].description.lower()))
        relations = sorted(((r["Relation"], int(r["NumImages"])) for r in rows if r["Relation"]),
                           key=lambda rn: (-rn[1], rn[0]))  # fmt: skip
        return Facets(classes[:FACET_CLASSES], relations, exact)
