"""The CSV files the importer reads: the course copies and the official Open Images files."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ..keys import IMAGE_ID

LABEL = re.compile(r"^/[a-z]/[0-9a-z_]+$")
RELATION = re.compile(r"^[a-z][a-z_]*$")

Parsed = tuple[str, ...] | None  # a clean row, or None when the row is to be skipped


class BadRow(ValueError):
    """A row that cannot be imported; the message says why."""


def _image_id(value: str) -> str:
    if not IMAGE_ID.match(value):
        raise BadRow(f"ImageId {value!r} is not 16 hexadecimal digits")
    return value.lower()


def _label(value: str) -> str:
    if not LABEL.match(value):
        raise BadRow(f"label {value!r} is not an Open Images id like /m/01yrx")
    return value


def _description(value: str) -> str:
    value = value.strip()
    if not value:
        raise BadRow("empty description")
    return value


def _relation(value: str) -> str:
    if not RELATION.match(value):
        raise BadRow(f"relation {value!r} is not a lowercase word like 'plays'")
    return value


@dataclass(frozen=True)
class Format:
    """One file layout: how to recognise its first row and turn each row into table columns."""

    table: str
    name: str
    header: tuple[str, ...] | None  # None: no header row, recognised by `looks_like`
    columns: int
    parse: Callable[[list[str]], Parsed]
    looks_like: Callable[[list[str]], bool] = lambda row: False

    def matches(self, first_row: list[str]) -> bool:
        if self.header is not None:
            return tuple(c.strip().lstrip("\ufeff") for c in first_row) == self.header
        return self.looks_like(first_row)


def _official_label(row: list[str]) -> Parsed:
    image_id, _source, label, confidence = row
    try:
        keep = float(confidence) == 1.0
    except ValueError as exc:
        raise BadRow(f"Confidence {confidence!r} is not a number") from exc
    return (_image_id(image_id), _label(label)) if keep else None


def _official_relation(row: list[str]) -> Parsed:
    return (_image_id(row[0]), _label(row[1]), _relation(row[11]), _label(row[2]))


FORMATS: tuple[Format, ...] = (
    Format(
        "classes", "course classes.csv", ("Label", "Description"), 2,
        lambda r: (_label(r[0]), _description(r[1])),
    ),
    Format(
        "classes", "Open Images class descriptions (no header)", None, 2,
        lambda r: (_label(r[0]), _description(r[1])),
        looks_like=lambda r: len(r) == 2 and bool(LABEL.match(r[0])),
    ),
    Format(
        "image_labels", "course image-labels.csv", ("ImageId", "Label"), 2,
        lambda r: (_image_id(r[0]), _label(r[1])),
    ),
    Format(
        "image_labels", "Open Images human-verified image labels",
        ("ImageID", "Source", "LabelName", "Confidence"), 4, _official_label,
    ),
    Format(
        "relations", "course relations.csv", ("ImageId", "Label1", "Relation", "Label2"), 4,
        lambda r: (_image_id(r[0]), _label(r[1]), _relation(r[2]), _label(r[3])),
    ),
    Format(
        "relations", "Open Images visual relationship annotations",
        ("ImageID", "LabelName1", "LabelName2", "XMin1", "XMax1", "YMin1", "YMax1",
         "XMin2", "XMax2", "YMin2", "YMax2", "RelationshipLabel"), 12, _official_relation,
    ),
)  # fmt: skip


def detect(table: str, first_row: list[str]) -> Format | None:
    """The format of a `table` file whose first row is `first_row`, if any fits."""
    return next((f for f in FORMATS if f.table == table and f.matches(first_row)), None)


def expected(table: str) -> str:
    """What a `table` file may look like, for error messages."""
    shapes = [
        f"header {','.join(f.header)!r}" if f.header else f"{f.name}"
        for f in FORMATS
        if f.table == table
    ]
    return " or ".join(shapes)
