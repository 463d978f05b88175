"""Reading and checking query parameters: every bad value becomes an InputError (a 400)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from werkzeug.datastructures import MultiDict

from ..errors import InputError
from ..explore import Cursor
from ..keys import IMAGE_ID
from ..times import parse_time

__all__ = ["InputError", "Params"]
MAX_TEXT = 200
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
