"""The `results` page: what the classifier functions recorded, newest first."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from .. import adapters, settings
from ..catalog import Catalog
from ..errors import Unavailable
from ..pipeline.results import DEFAULT_WINDOW, Filters, latest
from .params import Params
from .render import View, page, url

CLASSIFIERS = ("", "tflite", "vision")
STATUSES = ("", "ok", "rejected", "error")


def _catalog() -> Catalog | None:
    try:
        return adapters.explorer().catalog
    except Unavailable:
        return None  # a pipeline-only warehouse: no class links


def _label(item: dict[str, Any], catalog: Catalog | None) -> dict[str, Any]:
    out = {"label": item["label"], "score": item["score"], "mid": item.get("mid")}
    known = catalog and (
        (catalog.by_label.get(item.get("mid") or "")) or catalog.find(item["label"])
    )
    out["image_search"] = url("image_search", description=known.description) if known else None
    return out


def _row(row: dict[str, Any], catalog: Catalog | None) -> dict[str, Any]:
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
        "labels": [_label(dict(item), catalog) for item in row["labels"] or []],
        "page": url("results", key=row["request_key"]),
    }


def _picture(key_rows: list[dict[str, Any]]) -> str | None:
    """The image of one object's page: its Open Images URL, or a thumbnail from the bucket."""
    first = key_rows[0]
    if first["image_id"]:
        return settings.get().image_url(first["image_id"])
    from .uploads import thumbnail

    store = adapters.blobstore()
    if first["source_uri"].startswith(f"gs://{store.bucket}/"):
        try:
            return thumbnail(store.get(first["object"]))
        except (FileNotFoundError, ValueError):
            return None
    return None


@page
def results(q: Params) -> View:
    filters = Filters(
        since=q.timestamp("since"),
        until=q.timestamp("until"),
        key=q.text("key", ""),
        classifier=q.choice("classifier", "", CLASSIFIERS),
        status=q.choice("status", "", STATUSES),
        prefix=q.text("prefix", ""),
        label=q.text("label", ""),
        min_score=q.number("min_score", 0.0, 0.0, 1.0),
    )
    default_window = filters.since is None and not filters.key
    since, until = filters.window()
    filters = replace(filters, since=since, until=until)  # one window for the query and page
    limit = q.integer("limit", 50, 1, 1000)
    offset = q.integer("offset", 0, 0, 1_000_000)
    rows, more = latest(adapters.warehouse(), filters, limit, offset)
    catalog = _catalog()
    shown = [_row(r, catalog) for r in rows]
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
        "next": url("results", **base, limit=limit, offset=offset + limit) if more else None,
        "previous": url("results", **base, limit=limit, offset=max(offset - limit, 0) or None)
        if offset
        else None,
    }
    if filters.key and shown:
        data["image"] = _picture(shown)
    title = f"Results for {filters.key}" if filters.key else "Classification results"
    return View("results.html", title, data, {"window_days": DEFAULT_WINDOW.days})
