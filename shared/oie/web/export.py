"""A list page's whole result set as CSV or NDJSON (`format=csv`, `format=ndjson`), streamed.

The export walks the page's own `next` links with the largest page size and no facets, so
it has exactly the page's filters and order, and stops after EXPORT_MAX_ROWS rows. A
truncated export ends with a line saying so and the link that resumes it (Datasette's
model: a CSV of any table, capped). The first page is computed before anything is sent, so
bad input is still a 4xx with a message.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import flask

from ..errors import problem
from .params import MAX_LIMIT, Params

if TYPE_CHECKING:
    from ..app import App
    from .render import View

FORMATS = {"csv": "text/csv", "ndjson": "application/x-ndjson"}  # flask adds the charset to text/*
PAGE_ROWS = MAX_LIMIT  # rows asked per page: every list page's largest
EXPORT_MAX_ROWS = 100 * PAGE_ROWS  # an export stops here, at a page boundary


def _cell(value: Any) -> Any:
    """A CSV cell: a list of classes as their names, other lists and objects as JSON."""
    if isinstance(value, list):
        if all(isinstance(v, dict) and "description" in v for v in value):
            return "; ".join(str(v["description"]) for v in value)
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else value


def flat(row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested objects as dotted columns: {"class1": {"description": ...}} -> class1.description."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = _cell(value)
    return out


def _args_of(link: str) -> list[tuple[str, str]]:
    return [(k, v) for k, v in parse_qsl(urlsplit(link).query) if k != "format"]


def export_args(args: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The first page's arguments: the request's, with the largest page and no facets."""
    sized = {"limit": str(PAGE_ROWS), "image_limit": str(PAGE_ROWS), "facets": "0"}
    return [*((k, v) for k, v in args if k not in (*sized, "format")), *sized.items()]


def export(fn: Callable[[Params, App], View], first: View, rows_key: str, fmt: str,
           app: App) -> flask.Response:  # fmt: skip
    """Stream every row of `fn`'s pages (`view.data[rows_key]`) in `fmt`, from `first`."""
    from werkzeug.datastructures import MultiDict

    def pages() -> Iterator[tuple[list[dict[str, Any]], str | None]]:
        view: View | None = first
        while view is not None:
            link = view.data.get("next")
            yield view.data.get(rows_key) or [], link
            view = fn(Params(MultiDict(_args_of(link))), app) if link else None

    def body() -> Iterator[str]:
        sent = 0
        try:
            for rows, ended in rows_of():
                sent += rows
                yield ended
        except Exception as exc:  # a later page failed: say so, as the last line, logged once
            answer = problem(exc, f"export of {rows_key}")
            yield (json.dumps({"error": answer.message, "rows": sent}) + "\n" if fmt == "ndjson"
                   else f"# failed after {sent} rows: {answer.message}\n")  # fmt: skip

    def rows_of() -> Iterator[tuple[int, str]]:
        """(rows, text) as they are written."""
        sent, writer, buffer = 0, None, io.StringIO()
        for rows, link in pages():
            for row in rows:
                if fmt == "ndjson":
                    yield 1, json.dumps(row, ensure_ascii=False) + "\n"
                    continue
                cells = flat(row)
                if writer is None:
                    writer = csv.DictWriter(buffer, list(cells), extrasaction="ignore",
                                            lineterminator="\n")  # fmt: skip
                    writer.writeheader()
                writer.writerow(cells)
                yield 1, buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
            sent += len(rows)
            if link and sent >= EXPORT_MAX_ROWS:
                resume = "?" + urlencode([*_args_of(link), ("format", fmt)])
                yield 0, (json.dumps({"truncated": True, "rows": sent, "resume": resume}) + "\n"
                          if fmt == "ndjson"
                          else f"# truncated at {sent} rows; resume: {resume}\n")  # fmt: skip
                return

    response = flask.Response(flask.stream_with_context(body()), mimetype=FORMATS[fmt])
    response.headers.update(first.headers)
    response.headers["Content-Disposition"] = f'inline; filename="{rows_key}.{fmt}"'
    return response
