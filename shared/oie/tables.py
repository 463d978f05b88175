"""The explorer's tables: what is loaded from CSV, and what is derived from it at import."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from .warehouse import Schema

# The JSON schemas in infra/schemas are the source of truth for both warehouses. A deployed
# bundle carries a copy inside the package; a checkout reads them in place.
SCHEMA_DIRS = (
    Path(__file__).parent / "schemas",
    Path(__file__).resolve().parents[2] / "infra" / "schemas",
)
CSV_TABLES = ("classes", "image_labels", "relations")  # imported from CSV (the seed's tables)
HIERARCHY = "class_hierarchy"  # imported from the hierarchy's JSON; empty until it is
LOADED = (*CSV_TABLES, HIERARCHY)
CLASSIFICATIONS = "classifications"  # appended to by the classifiers
_SQL_TYPES = {"FLOAT": "FLOAT64", "INTEGER": "INT64", "BOOLEAN": "BOOL", "RECORD": "STRUCT"}


@dataclass(frozen=True)
class TableSpec:
    """One table as its JSON file describes it: a subset of BigQuery's Table resource."""

    name: str
    description: str
    fields: tuple[dict[str, Any], ...]
    cluster_by: tuple[str, ...] = ()
    resource: dict[str, Any] = field(default_factory=dict, repr=False)  # the JSON as read

    @property
    def columns(self) -> Schema:
        """(name, type) pairs of a flat table, types in standard SQL spelling."""
        return tuple((f["name"], _SQL_TYPES.get(f["type"], f["type"])) for f in self.fields)

    def table_resource(self, project: str, dataset: str) -> dict[str, Any]:
        """The body of BigQuery's tables.insert: the JSON as it is, with the table's reference."""
        ref = {"projectId": project, "datasetId": dataset, "tableId": self.name}
        return {**copy.deepcopy(self.resource), "tableReference": ref}


def schema_file(name: str) -> Path:
    for folder in SCHEMA_DIRS:
        if (folder / f"{name}.json").is_file():
            return folder / f"{name}.json"
    raise FileNotFoundError(f"no schema {name}.json in {', '.join(map(str, SCHEMA_DIRS))}")


@cache
def spec(name: str) -> TableSpec:
    raw = json.loads(schema_file(name).read_text())
    return TableSpec(
        name=name,
        description=raw.get("description", ""),
        fields=tuple(raw["schema"]["fields"]),
        cluster_by=tuple(raw.get("clustering", {}).get("fields", ())),
        resource=raw,
    )


# The CSV tables' columns (also the tables the seed app queried); every import needs them.
SCHEMAS: dict[str, Schema] = {name: spec(name).columns for name in CSV_TABLES}
PAIR_PARTNERS = 200  # class_pairs keeps each class's most frequent partners, this many


@dataclass(frozen=True)
class Derived:
    name: str
    select: str  # BigQuery SQL
    order_by: tuple[str, ...]  # DuckDB: stored sorted (zone maps prune); BigQuery: clustered


# The 16-hex-digit ImageId as an order-preserving INT64 (value - 2**63), computed in two
# halves because the whole would overflow INT64. Integers scan and compare several times
# faster than strings; the core converts at its edge (oie.keys).
IMAGE_KEY = """((CAST(CONCAT('0x', SUBSTR({c}, 1, 8)) AS INT64) - 2147483648) * 4294967296
  + CAST(CONCAT('0x', SUBSTR({c}, 9, 8)) AS INT64))"""

# Sorted copies and precomputed counts: every page reads a narrow slice, never a whole table.
DERIVED: tuple[Derived, ...] = (
    Derived(
        "class_ids",  # every label seen anywhere, numbered in Label order
        """SELECT Label, ROW_NUMBER() OVER (ORDER BY Label) AS LabelId FROM (
             SELECT Label FROM classes UNION DISTINCT SELECT Label FROM image_labels
             UNION DISTINCT SELECT Label1 FROM relations
             UNION DISTINCT SELECT Label2 FROM relations)""",
        ("LabelId",),
    ),
    Derived(
        "labels_by_label",
        f"""SELECT i.LabelId AS LabelId, {IMAGE_KEY.format(c="l.ImageId")} AS ImageKey
            FROM image_labels AS l JOIN class_ids AS i ON i.Label = l.Label
            GROUP BY LabelId, ImageKey""",
        ("LabelId", "ImageKey"),
    ),
    Derived(
        "labels_by_image",
        "SELECT ImageKey, LabelId FROM labels_by_label",
        ("ImageKey", "LabelId"),
    ),
    Derived(
        "relations_by_image",
        f"""SELECT {IMAGE_KEY.format(c="r.ImageId")} AS ImageKey,
                   a.LabelId AS LabelId1, r.Relation AS Relation, b.LabelId AS LabelId2
            FROM relations AS r JOIN class_ids AS a ON a.Label = r.Label1
            JOIN class_ids AS b ON b.Label = r.Label2
            GROUP BY ImageKey, LabelId1, Relation, LabelId2""",
        ("ImageKey", "LabelId1", "Relation", "LabelId2"),
    ),
    Derived(
        "class_counts",
        """SELECT i.LabelId AS LabelId, i.Label AS Label,
                  COALESCE(d.Description, i.Label) AS Description,
                  COALESCE(n.NumImages, 0) AS NumImages
           FROM class_ids AS i
           LEFT JOIN (SELECT Label, MIN(Description) AS Description FROM classes
                      GROUP BY Label) AS d ON d.Label = i.Label
           LEFT JOIN (SELECT LabelId, COUNT(*) AS NumImages FROM labels_by_label
                      GROUP BY LabelId) AS n ON n.LabelId = i.LabelId""",
        ("Description", "Label"),
    ),
    Derived(
        "relation_counts",
        """SELECT Relation AS Relation, COUNT(*) AS NumRelations,
                  COUNT(DISTINCT ImageKey) AS NumImages
           FROM relations_by_image GROUP BY Relation""",
        ("Relation",),
    ),
    Derived(
        "class_closure",  # each class with every class below it (Subcategory), itself too
        """WITH RECURSIVE below AS (
             SELECT Parent AS Ancestor, Child AS Label, 1 AS Depth FROM class_hierarchy
             WHERE Kind = 'Subcategory'
             UNION ALL
             SELECT b.Ancestor AS Ancestor, h.Child AS Label, b.Depth + 1 AS Depth
             FROM below AS b JOIN class_hierarchy AS h ON h.Parent = b.Label
             WHERE h.Kind = 'Subcategory' AND b.Depth < 100)
           SELECT m.Ancestor AS Ancestor, i.LabelId AS LabelId
           FROM (SELECT Ancestor, Label FROM below
                 UNION DISTINCT SELECT Label, Label FROM class_ids) AS m
           JOIN class_ids AS i ON i.Label = m.Label""",
        ("Ancestor", "LabelId"),
    ),
    Derived(
        "subtree_counts",  # images of a class or of any class below it, each once
        """SELECT c.Ancestor AS Label, COUNT(DISTINCT l.ImageKey) AS NumImages
           FROM class_closure AS c JOIN labels_by_label AS l ON l.LabelId = c.LabelId
           GROUP BY c.Ancestor""",
        ("Label",),
    ),
    Derived(
        "class_pairs",  # images with both classes; each class's top PAIR_PARTNERS partners
        f"""SELECT a.LabelId AS LabelId1, b.LabelId AS LabelId2, COUNT(*) AS NumImages
            FROM labels_by_image AS a JOIN labels_by_image AS b
              ON b.ImageKey = a.ImageKey AND b.LabelId <> a.LabelId
            GROUP BY LabelId1, LabelId2
            QUALIFY ROW_NUMBER() OVER (
              PARTITION BY LabelId1 ORDER BY COUNT(*) DESC, LabelId2) <= {PAIR_PARTNERS}""",
        ("LabelId1", "LabelId2"),
    ),
    Derived(
        "class_relations",  # images of a class that take part in a relation of a type
        """SELECT l.LabelId AS LabelId, r.Relation AS Relation,
                  COUNT(DISTINCT r.ImageKey) AS NumImages
           FROM relations_by_image AS r JOIN labels_by_image AS l ON l.ImageKey = r.ImageKey
           GROUP BY LabelId, Relation""",
        ("LabelId", "Relation"),
    ),
)
