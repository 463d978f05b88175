"""The explorer's tables: what is loaded from CSV, and what is derived from it at import."""

from __future__ import annotations

from dataclasses import dataclass

from .warehouse import Schema

# Loaded as imported (also the tables the seed app queried).
SCHEMAS: dict[str, Schema] = {
    "classes": (("Label", "STRING"), ("Description", "STRING")),
    "image_labels": (("ImageId", "STRING"), ("Label", "STRING")),
    "relations": (("ImageId", "STRING"), ("Label1", "STRING"), ("Relation", "STRING"),
                  ("Label2", "STRING")),
}  # fmt: skip


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
)
