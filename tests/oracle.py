"""Expected answers computed independently of the code under test: SQLite over the CSVs."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path


class Oracle:
    def __init__(self, files: dict[str, Path]):
        self.db = sqlite3.connect(":memory:")
        self.db.execute("PRAGMA case_sensitive_like = OFF")
        for table, columns in (
            ("classes", ("Label", "Description")),
            ("image_labels", ("ImageId", "Label")),
            ("relations", ("ImageId", "Label1", "Relation", "Label2")),
        ):
            self.db.execute(f"CREATE TABLE {table} ({', '.join(columns)})")
            with open(files[table], newline="") as fh:
                rows = list(csv.reader(fh))[1:]
            marks = ", ".join("?" * len(columns))
            self.db.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)

    def rows(self, sql: str, *params: object) -> list[tuple]:
        return self.db.execute(sql, params).fetchall()

    def label(self, description: str) -> str:
        return self.rows("SELECT Label FROM classes WHERE Description = ?", description)[0][0]

    def classes_with_images(self) -> list[tuple[str, int]]:
        return self.rows(
            """SELECT c.Description, COUNT(DISTINCT l.ImageId) FROM classes c
               JOIN image_labels l ON l.Label = c.Label GROUP BY c.Label
               ORDER BY lower(c.Description), c.Label"""
        )

    def relation_counts(self) -> list[tuple[str, int, int]]:
        return self.rows(
            """SELECT Relation, COUNT(*), COUNT(DISTINCT ImageId)
               FROM (SELECT DISTINCT * FROM relations) GROUP BY Relation ORDER BY Relation"""
        )

    def images_of(self, description: str) -> list[str]:
        return [
            r[0]
            for r in self.rows(
                """SELECT DISTINCT l.ImageId FROM image_labels l JOIN classes c ON c.Label = l.Label
               WHERE c.Description = ? ORDER BY l.ImageId""",
                description,
            )
        ]

    def images_of_any(self, descriptions: list[str], mode: str = "any") -> list[tuple[str, int]]:
        marks = ", ".join("?" * len(descriptions))
        having = f"HAVING COUNT(DISTINCT l.Label) = {len(descriptions)}" if mode == "all" else ""
        return self.rows(
            f"""SELECT l.ImageId, COUNT(DISTINCT l.Label) AS n FROM image_labels l
                JOIN classes c ON c.Label = l.Label WHERE c.Description IN ({marks})
                GROUP BY l.ImageId {having} ORDER BY n DESC, l.ImageId""",
            *descriptions,
        )

    def relation_search(self, class1: str, relation: str, class2: str) -> list[tuple]:
        return self.rows(
            """SELECT DISTINCT r.ImageId, c1.Description, r.Relation, c2.Description
               FROM relations r JOIN classes c1 ON c1.Label = r.Label1
               JOIN classes c2 ON c2.Label = r.Label2
               WHERE c1.Description LIKE ? ESCAPE '\\' AND r.Relation LIKE ? ESCAPE '\\'
                 AND c2.Description LIKE ? ESCAPE '\\'
               ORDER BY r.ImageId, r.Label1, r.Relation, r.Label2""",
            class1,
            relation,
            class2,
        )

    def image_classes(self, image_id: str) -> list[str]:
        return [
            r[0]
            for r in self.rows(
                """SELECT DISTINCT c.Description FROM image_labels l
               JOIN classes c ON c.Label = l.Label
               WHERE l.ImageId = ? ORDER BY lower(c.Description)""",
                image_id,
            )
        ]

    def image_relations(self, image_id: str) -> list[tuple[str, str, str]]:
        return self.rows(
            """SELECT DISTINCT c1.Description, r.Relation, c2.Description FROM relations r
               JOIN classes c1 ON c1.Label = r.Label1 JOIN classes c2 ON c2.Label = r.Label2
               WHERE r.ImageId = ? ORDER BY r.Label1, r.Relation, r.Label2""",
            image_id,
        )


class HierarchyOracle(Oracle):
    """The oracle with the hierarchy file read on its own: edges, then SQLite's recursion."""

    def __init__(self, files: dict[str, Path], hierarchy: Path):
        super().__init__(files)
        self.db.execute("CREATE TABLE hierarchy (parent, child, kind)")
        edges: set[tuple[str, str, str]] = set()
        todo = [json.loads(hierarchy.read_text())]
        while todo:
            node = todo.pop()
            for kind in ("Subcategory", "Part"):
                for child in node.get(kind, []):
                    edges.add((node["LabelName"], child["LabelName"], kind))
                    todo.append(child)
        self.db.executemany("INSERT INTO hierarchy VALUES (?, ?, ?)", sorted(edges))

    def below(self, description: str) -> list[str]:
        """Labels under the class by Subcategory edges, transitively, that classes.csv has."""
        return [
            r[0]
            for r in self.rows(
                """WITH RECURSIVE down(label) AS (
                     SELECT Label FROM classes WHERE Description = ?
                     UNION SELECT h.child FROM hierarchy h JOIN down d ON h.parent = d.label
                     WHERE h.kind = 'Subcategory')
                   SELECT label FROM down WHERE label IN (SELECT Label FROM classes)
                     AND label <> (SELECT Label FROM classes WHERE Description = ?)
                   ORDER BY label""",
                description,
                description,
            )
        ]

    def images_below(self, description: str) -> list[str]:
        """Images of the class or of any class below it, each once, in ImageId order."""
        labels = [self.label(description), *self.below(description)]
        marks = ", ".join("?" * len(labels))
        return [
            r[0]
            for r in self.rows(
                f"SELECT DISTINCT ImageId FROM image_labels WHERE Label IN ({marks}) "
                "ORDER BY ImageId",
                *labels,
            )
        ]

    def related(self, description: str, column: str, kind: str) -> list[str]:
        """Descriptions of the class's parents (column child) or children (column parent)."""
        other = "parent" if column == "child" else "child"
        return [
            r[0]
            for r in self.rows(
                f"""SELECT c.Description FROM hierarchy h JOIN classes c ON c.Label = h.{other}
                    WHERE h.{column} = (SELECT Label FROM classes WHERE Description = ?)
                      AND h.kind = ? ORDER BY c.Description""",
                description,
                kind,
            )
        ]

    def facets(self, images: list[str]) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
        """(class, images) and (relation, images) over these images, most images first."""
        self.db.execute("CREATE TEMP TABLE IF NOT EXISTS picked (ImageId)")
        self.db.execute("DELETE FROM picked")
        self.db.executemany("INSERT INTO picked VALUES (?)", [(i,) for i in images])
        classes = self.rows(
            """SELECT c.Description, COUNT(DISTINCT l.ImageId) AS n FROM image_labels l
               JOIN classes c ON c.Label = l.Label WHERE l.ImageId IN (SELECT ImageId FROM picked)
               GROUP BY c.Label ORDER BY n DESC, lower(c.Description)"""
        )
        relations = self.rows(
            """SELECT Relation, COUNT(DISTINCT ImageId) AS n FROM relations
               WHERE ImageId IN (SELECT ImageId FROM picked) GROUP BY Relation
               ORDER BY n DESC, Relation"""
        )
        return classes, relations
