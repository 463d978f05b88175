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


# Sorted copies and precomputed counts: every page reads a narrow slice, never a whole table.
DERIVED: tuple[Derived, ...] = (
    Derived(
        "labels_by_label",
        "SELECT DISTINCT Label, ImageId FROM image_labels",
        ("Label", "ImageId"),
    ),
    Derived(
        "labels_by_image",
        "SELECT Label, ImageId FROM labels_by_label",
        ("ImageId", "Label"),
    ),
    Derived(
        "relations_by_image",
        "SELECT DISTINCT ImageId, Label1, Relation, Label2 FROM relations",
        ("ImageId", "Label1", "Relation", "Label2"),
    ),
    Derived(
        "class_counts",
        """SELECT c.Label, ANY_VALUE(c.Description) AS Description,
                  COUNT(l.ImageId) AS NumImages
           FROM classes AS c LEFT JOIN labels_by_label AS l ON l.Label = c.Label
           GROUP BY c.Label""",
        ("Description", "Label"),
    ),
    Derived(
        "relation_counts",
        """SELECT Relation, COUNT(*) AS NumRelations, COUNT(DISTINCT ImageId) AS NumImages
           FROM relations_by_image GROUP BY Relation""",
        ("Relation",),
    ),
)
