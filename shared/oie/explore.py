"""The explorer's core: what each page asks of the warehouse, engine-agnostic.

Queries are BigQuery SQL with @named parameters; user input is only ever a parameter.
Class names and LIKE patterns are resolved against the in-memory catalog first, so the
big tables are only filtered by label ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .catalog import (
    CachedCatalog,
    Catalog,
    ClassInfo,
    RelationInfo,
    load_catalog,
    matches_everything,
    sum_images,
)
from .warehouse import Warehouse

FIRST_ID, LAST_ID = "", "ffffffffffffffff"  # bounds of the 16-hex-digit ImageId space
ID_SPACE = 1 << 64
SLICE_ROWS = 50_000  # label rows a first slice of image_search_multiple aims to read

SEARCH_AFTER = """SELECT ImageId FROM labels_by_label
WHERE Label = @label AND ImageId > @cursor ORDER BY ImageId LIMIT @n"""
SEARCH_BEFORE = """SELECT ImageId FROM labels_by_label
WHERE Label = @label AND ImageId < @cursor ORDER BY ImageId DESC LIMIT @n"""

# One slice of the ImageId space: images in it having exactly @m of the wanted labels.
MULTIPLE_AFTER = """SELECT ImageId, ARRAY_AGG(Label ORDER BY Label) AS Labels
FROM labels_by_label
WHERE Label IN UNNEST(@labels) AND ImageId > @lo AND ImageId <= @hi
GROUP BY ImageId HAVING COUNT(*) = @m ORDER BY ImageId LIMIT @n"""
MULTIPLE_BEFORE = """SELECT ImageId, ARRAY_AGG(Label ORDER BY Label) AS Labels
FROM labels_by_label
WHERE Label IN UNNEST(@labels) AND ImageId >= @lo AND ImageId < @hi
GROUP BY ImageId HAVING COUNT(*) = @m ORDER BY ImageId DESC LIMIT @n"""

RELATION_SEARCH = """SELECT ImageId, Label1, Relation, Label2 FROM relations_by_image
WHERE (@any1 OR Label1 IN UNNEST(@labels1))
  AND (@any_relation OR Relation IN UNNEST(@relations))
  AND (@any2 OR Label2 IN UNNEST(@labels2))
ORDER BY ImageId, Label1, Relation, Label2 LIMIT @n OFFSET @offset"""

IMAGE_LABELS = "SELECT Label FROM labels_by_image WHERE ImageId = @image_id"
IMAGE_RELATIONS = """SELECT Label1, Relation, Label2 FROM relations_by_image
WHERE ImageId = @image_id ORDER BY Label1, Relation, Label2"""

QUERIES = {
    "search_after": SEARCH_AFTER,
    "search_before": SEARCH_BEFORE,
    "multiple_after": MULTIPLE_AFTER,
    "multiple_before": MULTIPLE_BEFORE,
    "relation_search": RELATION_SEARCH,
    "image_labels": IMAGE_LABELS,
    "image_relations": IMAGE_RELATIONS,
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


@dataclass
class RelationPage:
    rows: list[Relation]
    offset: int
    limit: int
    has_next: bool
    unmatched: list[str] = field(default_factory=list)  # patterns that match nothing


def _hex(n: int) -> str:
    return f"{min(max(n, 0), ID_SPACE - 1):016x}"


def _as_int(image_id: str, default: int) -> int:
    return int(image_id, 16) if image_id else default


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
        labels = self.warehouse.query(IMAGE_LABELS, {"image_id": image_id})
        rels = self.warehouse.query(IMAGE_RELATIONS, {"image_id": image_id})
        if not labels and not rels:
            return None
        classes = sorted(
            (self._class(catalog, r["Label"]) for r in labels),
            key=lambda c: (c.description.lower(), c.label),
        )
        relations = [
            Relation(
                image_id,
                self._class(catalog, r["Label1"]),
                r["Relation"],
                self._class(catalog, r["Label2"]),
            )
            for r in rels
        ]
        return ImageInfo(image_id, classes, relations)

    @staticmethod
    def _class(catalog: Catalog, label: str) -> ClassInfo:
        return catalog.by_label.get(label) or ClassInfo(label, label, 0)

    def image_search(
        self,
        description: str,
        limit: int = 10,
        after: Cursor | None = None,
        before: Cursor | None = None,
    ) -> SearchPage:
        catalog = self.catalog
        found = catalog.find(description)
        if found is None:
            return SearchPage(
                [], limit, unknown=[description],
                suggestions={description: catalog.suggest(description)},
            )  # fmt: skip
        backward = before is not None and after is None
        cursor = (before if backward else after) or Cursor(FIRST_ID)
        rows = self.warehouse.query(
            SEARCH_BEFORE if backward else SEARCH_AFTER,
            {"label": found.label, "cursor": cursor.image_id, "n": limit + 1},
        )
        ids = [r["ImageId"] for r in rows]
        more = len(ids) > limit
        ids = ids[:limit]
        if backward:
            ids.reverse()
        page = SearchPage([Hit(i, [found]) for i in ids], limit, found=[found])
        if ids:
            has_next = True if backward else more
            has_previous = more if backward else bool(cursor.image_id)
            page.next = Cursor(ids[-1]) if has_next else None
            page.previous = Cursor(ids[0]) if has_previous else None
        return page

    def image_search_multiple(
        self,
        descriptions: list[str],
        mode: Mode = "any",
        limit: int = 10,
        after: Cursor | None = None,
        before: Cursor | None = None,
    ) -> SearchPage:
        """Images with any (or all) of the classes: most matched classes first, then ImageId.

        Results come in tiers (images matching k classes, then k-1, ...), each in ImageId
        order. A page is found by reading the ImageId space in growing slices, so a page
        over classes with millions of images reads thousands of rows, not millions.
        """
        catalog = self.catalog
        found: list[ClassInfo] = []
        unknown: list[str] = []
        for name in descriptions:
            c = catalog.find(name)
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
        start = (before if backward else after) or Cursor(FIRST_ID, tiers[0])
        if start.matched not in tiers:
            start = Cursor(start.image_id, tiers[0])
        rows = self._scan_tiers(found, tiers, start, limit + 1, backward)
        more = len(rows) > limit
        rows = rows[:limit]
        if backward:
            rows.reverse()
        page.hits = [
            Hit(image_id, [c for c in found if c.label in labels]) for image_id, _m, labels in rows
        ]
        if rows:
            first, last = rows[0], rows[-1]
            at_start = start.image_id == FIRST_ID and start.matched == tiers[0]
            has_next = True if backward else more
            has_previous = more if backward else not at_start
            page.next = Cursor(last[0], last[1]) if has_next else None
            page.previous = Cursor(first[0], first[1]) if has_previous else None
        return page

    def _scan_tiers(
        self, found: list[ClassInfo], tiers: list[int], start: Cursor, n: int, backward: bool
    ) -> list[tuple[str, int, list[str]]]:
        labels = [c.label for c in found]
        if getattr(self.warehouse, "prefers_few_queries", False):
            first_width = ID_SPACE
        else:
            share = SLICE_ROWS / max(sum_images(found), 1)
            first_width = ID_SPACE if share >= 1 else max(int(ID_SPACE * share), 1 << 32)
        order = tiers if not backward else list(reversed(tiers))
        order = order[order.index(start.matched) :]
        out: list[tuple[str, int, list[str]]] = []
        for m in order:
            edge = start.image_id if m == start.matched else ""
            if backward:
                hi = _as_int(edge, ID_SPACE)
                width = first_width
                while hi > 0 and len(out) < n:
                    lo = max(hi - width, 0)
                    rows = self.warehouse.query(
                        MULTIPLE_BEFORE,
                        {"labels": labels, "lo": _hex(lo), "hi": _hex(hi) if hi < ID_SPACE
                         else "g", "m": m, "n": n - len(out)},
                    )  # fmt: skip
                    out += [(r["ImageId"], m, list(r["Labels"])) for r in rows]
                    hi, width = lo, width * 4
            else:
                lo_text = edge
                lo = _as_int(edge, -1)
                width = first_width
                while lo < ID_SPACE - 1 and len(out) < n:
                    hi = min(lo + width, ID_SPACE - 1)
                    rows = self.warehouse.query(
                        MULTIPLE_AFTER,
                        {"labels": labels, "lo": lo_text, "hi": _hex(hi), "m": m,
                         "n": n - len(out)},
                    )  # fmt: skip
                    out += [(r["ImageId"], m, list(r["Labels"])) for r in rows]
                    lo, lo_text, width = hi, _hex(hi), width * 4
            if len(out) >= n:
                break
        return out

    def relation_search(
        self,
        class1: str = "%",
        relation: str = "%",
        class2: str = "%",
        limit: int = 10,
        offset: int = 0,
    ) -> RelationPage:
        """Relations whose parts match SQL LIKE patterns (`%`, `_`), case-insensitively."""
        catalog = self.catalog
        params: dict[str, object] = {"n": limit + 1, "offset": offset}
        unmatched = []
        for key, pattern, resolve in (
            ("1", class1, catalog.labels_like),
            ("_relation", relation, catalog.relations_like),
            ("2", class2, catalog.labels_like),
        ):
            name = "relations" if key == "_relation" else f"labels{key}"
            everything = pattern == "" or matches_everything(pattern)
            values = [] if everything else resolve(pattern)
            if not everything and not values:
                unmatched.append(pattern)
            params[f"any{key}"] = everything
            params[name] = values
        page = RelationPage([], offset, limit, False, unmatched)
        if unmatched:
            return page
        rows = self.warehouse.query(RELATION_SEARCH, params)
        page.has_next = len(rows) > limit
        page.rows = [
            Relation(
                r["ImageId"],
                self._class(catalog, r["Label1"]),
                r["Relation"],
                self._class(catalog, r["Label2"]),
            )
            for r in rows[:limit]
        ]
        return page
