"""The `results` page: what the classifier functions recorded, newest first."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..catalog import Catalog
from ..errors import Unavailable
from ..links import Links
from ..pipeline.results import DEFAULT_WINDOW, Filters, latest
from .params import MAX_LIMIT, Field, Params, choice, integer, number, read, text
from .render import PRIVATE, View, page

if TYPE_CHECKING:
    from ..app import App

CLASSIFIERS = ("", "tflite", "vision")
STATUSES = ("", "ok", "rejected", "error")


def catalog_of(app: App) -> Catalog | None:
    try:
        return app.explorer.catalog
    except Unavailable:
        return None  # a pipeline-only warehouse: no class links


def class_search(label: str, mid: str | None, catalog: Catalog | None,
                 links: Links) -> str | None:  # fmt: skip
    """The image_search of the Open Images class a label names (by its mid, else by name,
    `Catalog.named_by`); None when it names none."""
    known = catalog and (catalog.by_label.get(mid or "") or catalog.named_by(label))
    return links.url("image_search", description=known.description) if known else None


def _label(item: dict[str, Any], catalog: Catalog | None, links: Links) -> dict[str, Any]:
    return {
        "label": item["label"],
        "score": item["score"],
        "mid": item.get("mid"),
        "image_search": class_search(item["label"], item.get("mid"), catalog, links),
    }


def _row(row: dict[str, Any], catalog: Catalog | None, links: Links) -> dict[str, Any]:
    at = row["classified_at"]
    return {
        "key": row["request_key"],
        "source_uri": row["source_uri"],
        "object": row["object"],
        "image_id": row["image_id"] or None,
        "classifier": row["classifier"],
        "model": row["model"],
        "status": row["status"],
        "error": row["error"],
        "classified_at": at.isoformat() if isinstance(at, datetime) else at,
        "latency_ms": round(float(row["latency_ms"] or 0), 1),
        "labels": [_label(dict(item), catalog, links) for item in row["labels"] or []],
        "page": links.url("results", key=row["request_key"]),
    }


def _picture(key_rows: list[dict[str, Any]], app: App) -> str | None:
    """The image of one object's page: its Open Images URL, or a thumbnail from the bucket."""
    first = key_rows[0]
    if first["image_id"]:
        return app.links.photo(first["image_id"])
    from ..classify.images import MAX_BYTES
    from .uploads import thumbnail

    store = app.blobstore
    if first["source_uri"].startswith(f"gs://{store.bucket}/"):
        try:  # no more than the classifier would read: a huge object is refused unread
            return thumbnail(store.get(first["object"], max_bytes=MAX_BYTES))
        except (FileNotFoundError, ValueError):  # gone, too large (413), a name it can't hold
            return None
    return None


FIELDS = (
    Field("since", "timestamp", "from this ISO date or time (default: 30 days back)"),
    Field("until", "timestamp", "until this ISO date or time"),
    text("key", "one object's key, all time", ""),
    choice("classifier", "tflite or vision", "", CLASSIFIERS),
    choice("status", "ok, rejected or error", "", STATUSES),
    text("prefix", "object names starting with this", ""),
    text("label", "a part of a label, any case", ""),
    number("min_score", "that label's score at least", 0.0, 0.0, 1.0),
    integer("limit", "rows per page", 50, 1, MAX_LIMIT),
    integer("offset", "rows to skip", 0, 0, 1_000_000),
)


@page(rows="results", fields=FIELDS)
def results(q: Params, app: App) -> View:
    links = app.links
    v = read(q, FIELDS)
    filters = Filters(**{k: v[k] for k in ("since", "until", "key", "classifier", "status",
                                           "prefix", "label", "min_score")})  # fmt: skip
    default_window = filters.since is None and not filters.key
    since, until = filters.window()
    filters = replace(filters, since=since, until=until)  # one window for the query and page
    limit, offset = v["limit"], v["offset"]
    rows, more = latest(app.warehouse, filters, limit, offset)
    catalog = catalog_of(app)
    shown = [_row(r, catalog, links) for r in rows]
    base = {
        k: v for k, v in vars(filters).items() if v not in ("", 0.0) and k not in ("since", "until")
    }
    base |= {k: q.args[k] for k in ("since", "until") if q.args.get(k)}
    data: dict[str, Any] = {
        "filters": base,
        "window": {
            "since": since.isoformat(),
            "until": until.isoformat(),
            "default": default_window,
        },
        "count": len(shown),
        "results": shown,
        "next": links.url("results", **base, limit=limit, offset=offset + limit) if more else None,
        "previous": links.url("results", **base, limit=limit, offset=max(offset - limit, 0) or None)
        if offset
        else None,
    }
    if filters.key and shown:
        data["image"] = _picture(shown, app)
    title = f"Results for {filters.key}" if filters.key else "Classification results"
    # Private: deployed, `results` shows what users uploaded; no shared cache may keep it.
    return View("results.html", title, data, {"window_days": DEFAULT_WINDOW.days},
                headers={"Cache-Control": PRIVATE})  # fmt: skip
