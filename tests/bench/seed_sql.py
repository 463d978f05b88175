"""The seed app's queries, as the course app built them: user input pasted into SQL strings,
JOINs on `classes` by Description, over the raw as-loaded tables. For benchmarking only.

Each function returns the statements one page view of the seed ran. The seed had no
pagination; the equivalent of our n-th page is `OFFSET n * limit`.
"""

from __future__ import annotations


def _page(limit: int, page: int) -> str:
    return f"LIMIT {limit}" + (f" OFFSET {page * limit}" if page else "")


def _in_list(names: list[str]) -> str:
    return ", ".join(f"'{name}'" for name in names)


def classes() -> list[str]:
    return [
        """SELECT Description, COUNT(*) AS NumImages
        FROM image_labels JOIN classes USING (Label)
        GROUP BY Description ORDER BY Description"""
    ]


def relations() -> list[str]:
    return [
        """SELECT Relation, COUNT(*) AS NumImages
        FROM relations GROUP BY Relation ORDER BY Relation"""
    ]


def image_info(image_id: str) -> list[str]:
    return [
        f"""SELECT Description FROM image_labels JOIN classes USING (Label)
        WHERE ImageId = '{image_id}' ORDER BY Description""",
        f"""SELECT c1.Description, Relation, c2.Description
        FROM relations
        JOIN classes AS c1 ON c1.Label = relations.Label1
        JOIN classes AS c2 ON c2.Label = relations.Label2
        WHERE ImageId = '{image_id}'
        ORDER BY c1.Description, Relation, c2.Description""",
    ]


def image_search(description: str, limit: int = 10, page: int = 0) -> list[str]:
    return [
        f"""SELECT ImageId FROM image_labels JOIN classes USING (Label)
        WHERE Description = '{description}' ORDER BY ImageId {_page(limit, page)}"""
    ]


def image_search_multiple(
    descriptions: list[str], mode: str = "any", limit: int = 10, page: int = 0
) -> list[str]:
    having = f"HAVING COUNT(*) = {len(descriptions)} " if mode == "all" else ""
    return [
        f"""SELECT ImageId, COUNT(*) AS Matched,
               ARRAY_AGG(Description ORDER BY Description) AS Descriptions
        FROM image_labels JOIN classes USING (Label)
        WHERE Description IN ({_in_list(descriptions)})
        GROUP BY ImageId {having}ORDER BY Matched DESC, ImageId {_page(limit, page)}"""
    ]


def relation_search(
    class1: str = "%", relation: str = "%", class2: str = "%", limit: int = 10, page: int = 0
) -> list[str]:
    return [
        f"""SELECT ImageId, c1.Description, Relation, c2.Description
        FROM relations
        JOIN classes AS c1 ON c1.Label = relations.Label1
        JOIN classes AS c2 ON c2.Label = relations.Label2
        WHERE c1.Description LIKE '{class1}' AND Relation LIKE '{relation}'
          AND c2.Description LIKE '{class2}'
        ORDER BY ImageId {_page(limit, page)}"""
    ]


# What the seed lacked, written as the seed wrote SQL: pasted names over the raw tables.
# The baselines for the facet panel and for searches with subclasses.


def image_search_any(labels: list[str], limit: int = 10, page: int = 0) -> list[str]:
    """Images with any of `labels` (a class and those below it), each once."""
    return [
        f"""SELECT DISTINCT ImageId FROM image_labels WHERE Label IN ({_in_list(labels)})
        ORDER BY ImageId {_page(limit, page)}"""
    ]


def co_occurring(description: str, limit: int = 20) -> list[str]:
    """Classes in the images of `description`, with image counts, most first (exact)."""
    return [
        f"""SELECT c2.Description, COUNT(DISTINCT b.ImageId) AS NumImages
        FROM image_labels AS a JOIN classes AS c1 ON c1.Label = a.Label
        JOIN image_labels AS b ON b.ImageId = a.ImageId AND b.Label <> a.Label
        JOIN classes AS c2 ON c2.Label = b.Label
        WHERE c1.Description = '{description}'
        GROUP BY c2.Description ORDER BY NumImages DESC, c2.Description LIMIT {limit}""",
        f"""SELECT r.Relation, COUNT(DISTINCT r.ImageId) AS NumImages
        FROM image_labels AS a JOIN classes AS c1 ON c1.Label = a.Label
        JOIN relations AS r ON r.ImageId = a.ImageId
        WHERE c1.Description = '{description}' GROUP BY r.Relation""",
    ]
