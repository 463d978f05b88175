"""Reading and checking query parameters: every bad value becomes an InputError (a 400)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from werkzeug.datastructures import MultiDict

from ..errors import InputError
from ..explore import Cursor
from ..keys import IMAGE_ID
from ..times import parse_time

__all__ = ["InputError", "Params"]
MAX_TEXT = 200
MAX_LIMIT = 1000  # rows one page shows at most (more is paging; an export walks the pages)
# ASCII digits only: Python's int() and float() also take "1_0" and "٣" (Arabic-Indic
# three), which no other engine reads the same way.
INTEGER = re.compile(r"[+-]?[0-9]{1,18}")
NUMBER = re.compile(r"[+-]?(?:[0-9]{1,18}(?:\.[0-9]{0,18})?|\.[0-9]{1,18})(?:[eE][+-]?[0-9]{1,3})?")
# A page position: the tier (classes matched, at most MAX_NAMES) and an image id.
TIERED = re.compile(r"([1-9][0-9]?)-([0-9A-Fa-f]{16})")
MAX_NAMES = 20


def query(request: Any) -> MultiDict[str, str]:
    """A request's query arguments. Werkzeug decodes them as strict UTF-8 on first use; a
    server in front may pass other bytes through (WSGI carries them as latin-1)."""
    try:
        args: MultiDict[str, str] = request.args
    except UnicodeDecodeError:
        raise InputError(None, "the query string is not UTF-8: percent-encode it") from None
    return args


class Params:
    def __init__(self, args: Mapping[str, str]):
        self.args = args

    def text(self, name: str, default: str | None = None, max_len: int = MAX_TEXT) -> str:
        value = self.args.get(name)
        if value is None or value.strip() == "":
            if default is None:
                raise InputError(name, f"{name} is required")
            return default
        value = value.strip()
        if len(value) > max_len:
            raise InputError(name, f"{name} is longer than {max_len} characters")
        if any(ord(ch) < 32 for ch in value):
            raise InputError(name, f"{name} contains control characters")
        return value

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.args.get(name)
        if raw is None or raw.strip() == "":
            return default
        value = int(raw.strip()) if INTEGER.fullmatch(raw.strip()) else None
        if value is None or not low <= value <= high:
            raise InputError(
                name, f"{name} must be a whole number from {low} to {high}, got {raw!r}"
            )
        return value

    def number(self, name: str, default: float, low: float, high: float) -> float:
        raw = self.args.get(name)
        if raw is None or raw.strip() == "":
            return default
        value = float(raw.strip()) if NUMBER.fullmatch(raw.strip()) else float("nan")
        if not low <= value <= high:  # also false for nan
            raise InputError(name, f"{name} must be a number from {low:g} to {high:g}, got {raw!r}")
        return value

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.args.get(name, "").strip().lower() or default
        if value not in choices:
            raise InputError(name, f"{name} must be one of {', '.join(choices)}, got {value!r}")
        return value

    def image_id(self, name: str = "image_id") -> str:
        value = self.text(name)
        if not IMAGE_ID.fullmatch(value):
            raise InputError(name, f"{name} must be 16 hexadecimal digits, got {value!r}")
        return value.lower()

    def names(self, name: str, max_items: int = MAX_NAMES) -> list[str]:
        """A comma-separated list of class names, blanks and repeats dropped."""
        raw = self.text(name, max_len=MAX_TEXT * max_items)
        items: list[str] = []
        for part in raw.split(","):
            part = part.strip()
            if part and part.lower() not in (i.lower() for i in items):
                items.append(part)
        if not items:
            raise InputError(name, f"{name} needs at least one class name, e.g. Cat,Dog")
        if len(items) > max_items:
            raise InputError(name, f"{name} takes at most {max_items} class names")
        return items

    def timestamp(self, name: str, default: datetime | None = None) -> datetime | None:
        """An ISO 8601 date or time; without a zone, UTC."""
        raw = self.args.get(name, "").strip()
        if not raw:
            return default
        try:
            return parse_time(raw)
        except ValueError:
            raise InputError(name, f"{name} must be an ISO date or time, got {raw!r}") from None

    def cursor(self, name: str, tiered: bool = False) -> Cursor | None:
        raw = self.args.get(name, "").strip()
        if not raw:
            return None
        found = TIERED.fullmatch(raw) if tiered else IMAGE_ID.fullmatch(raw)
        if not found:
            shown = raw if len(raw) <= 40 else raw[:40] + "..."
            raise InputError(name, f"{name} is not a page position this site made: {shown!r}")
        if tiered:
            return Cursor(found[2].lower(), int(found[1]))
        return Cursor(raw.lower())


# -- declared parameters: what a page reads, stated once, for its answer and its description

Kind = str  # text integer number choice flag image_id names timestamp cursor tiered


@dataclass(frozen=True)
class Field:
    """One query parameter of a page: how `read` checks it, and what the function index
    and the OpenAPI document say of it (`oie.web.api`)."""

    name: str
    kind: Kind
    doc: str
    default: Any = None  # None with a text kind: required
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    max_len: int = MAX_TEXT
    example: str | None = None  # a value the function accepts, for the docs and the tests

    @property
    def required(self) -> bool:
        return self.default is None and self.kind in ("text", "image_id", "names")

    def read(self, q: Params) -> Any:
        if self.kind == "text":
            return q.text(self.name, self.default, self.max_len)
        if self.kind == "integer":
            return q.integer(self.name, self.default, int(self.low or 0), int(self.high or 0))
        if self.kind == "number":
            return q.number(self.name, self.default, float(self.low or 0), float(self.high or 0))
        if self.kind == "choice":
            return q.choice(self.name, self.default, self.choices)
        if self.kind == "flag":
            return q.choice(self.name, self.default, self.choices) == "1"
        if self.kind == "image_id":
            return q.image_id(self.name)
        if self.kind == "names":
            return q.names(self.name)
        if self.kind == "timestamp":
            return q.timestamp(self.name, self.default)
        if self.kind in ("cursor", "tiered"):
            return q.cursor(self.name, tiered=self.kind == "tiered")
        raise ValueError(f"no such kind {self.kind!r}")


def text(name: str, doc: str, default: str | None = None, max_len: int = MAX_TEXT,
         example: str | None = None) -> Field:  # fmt: skip
    return Field(name, "text", doc, default, max_len=max_len, example=example)


def integer(name: str, doc: str, default: int, low: int, high: int) -> Field:
    return Field(name, "integer", doc, default, low, high)


def number(name: str, doc: str, default: float, low: float, high: float) -> Field:
    return Field(name, "number", doc, default, low, high)


def choice(name: str, doc: str, default: str, choices: tuple[str, ...]) -> Field:
    return Field(name, "choice", doc, default, choices=choices)


def flag(name: str, doc: str, default: bool) -> Field:
    """0 or 1; `read` gives a bool."""
    return Field(name, "flag", doc, "1" if default else "0", choices=("0", "1"))


def read(q: Params, fields: tuple[Field, ...]) -> dict[str, Any]:
    """Every declared parameter of a page, checked (the first bad one is a 400)."""
    return {f.name: f.read(q) for f in fields}
