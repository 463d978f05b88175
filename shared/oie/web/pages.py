"""The explorer's pages, one handler per HTTP function; each is HTML and JSON."""

from __future__ import annotations

from typing import Any

from .. import adapters
from ..catalog import ClassInfo
from ..explore import Cursor, Relation, SearchPage
from .params import Params
from .render import View, image_url, page, url

MAX_LIMIT = 1000
DEFAULTS = {
    "image_id": "0041c772f8b9aef6",
    "description": "Cat",
    "descriptions": "Cat,Dog",
    "relation": "plays",
    "image_limit": 10,
}


def _class(c: ClassInfo) -> dict[str, Any]:
    return {
        "label": c.label,
        "description": c.description,
        "num_images": c.num_images,
        "image_search": url("image_search", description=c.description),
    }


def _image(image_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "image_id": image_id,
        "url": image_url(image_id),
        "image_info": url("image_info", image_id=image_id),
        **extra,
    }


def _relation(r: Relation) -> dict[str, Any]:
    return {
        **_image(r.image_id),
        "class1": _class(r.class1),
        "relation": r.relation,
        "relation_search": url("relation_search", relation=r.relation),
        "class2": _class(r.class2),
        "pattern_search": url(
            "relation_search",
            class1=r.class1.description, relation=r.relation, class2=r.class2.description,
        ),
    }  # fmt: skip


def _cursor_link(name: str, params: dict[str, Any], key: str, cursor: Cursor | None) -> str | None:
    return url(name, **params, **{key: cursor.encode()}) if cursor else None


def _not_found_notes(result: SearchPage) -> list[dict[str, Any]]:
    return [
        {"name": name, "did_you_mean": [_class(c) for c in result.suggestions.get(name, [])]}
        for name in result.unknown
    ]


@page
def index(q: Params) -> View:
    return View("index.html", "Open Images Explorer", {"defaults": DEFAULTS})


@page
def classes(q: Params) -> View:
    limit = q.integer("limit", MAX_LIMIT, 1, MAX_LIMIT)
    offset = q.integer("offset", 0, 0, 10**9)
    result = adapters.explorer().classes(offset, limit)
    more = offset + limit < result.total
    data = {
        "total": result.total,
        "offset": offset,
        "limit": limit,
        "classes": [_class(c) for c in result.classes],
        "next": url("classes", offset=offset + limit, limit=limit) if more else None,
        "previous": url("classes", offset=max(offset - limit, 0), limit=limit) if offset else None,
    }
    return View("classes.html", "Classes", data)


@page
def relations(q: Params) -> View:
    rows = [
        {
            "relation": r.relation,
            "num_relations": r.num_relations,
            "num_images": r.num_images,
            "relation_search": url("relation_search", relation=r.relation),
        }
        for r in adapters.explorer().relations()
    ]
    return View("relations.html", "Relations", {"relations": rows})


@page
def image_info(q: Params) -> View:
    image_id = q.image_id()
    info = adapters.explorer().image_info(image_id)
    if info is None:
        error = f"No image {image_id} in the data set: it has no labels and no relations."
        data = {"status": 404, "image_id": image_id, "error": error}
        return View("error.html", "Image not found", data, status=404)
    data = {
        **_image(info.image_id),
        "classes": [_class(c) for c in info.classes],
        "relations": [_relation(r) for r in info.relations],
    }
    return View("image_info.html", f"Image {image_id}", data)


@page
def image_search(q: Params) -> View:
    description = q.text("description")
    limit = q.integer("image_limit", DEFAULTS["image_limit"], 1, MAX_LIMIT)
    after, before = q.cursor("after"), q.cursor("before")
    result = adapters.explorer().image_search(description, limit, after=after, before=before)
    base = {"description": description, "image_limit": limit}
    data = {
        **base,
        "class": _class(result.found[0]) if result.found else None,
        "count": len(result.hits),
        "images": [_image(h.image_id) for h in result.hits],
        "not_found": _not_found_notes(result),
        "next": _cursor_link("image_search", base, "after", result.next),
        "previous": _cursor_link("image_search", base, "before", result.previous),
    }
    return View("image_search.html", f"Images of {description}", data)


@page
def image_search_multiple(q: Params) -> View:
    names = q.names("descriptions")
    mode = q.choice("mode", "any", ("any", "all"))
    limit = q.integer("image_limit", DEFAULTS["image_limit"], 1, MAX_LIMIT)
    after, before = q.cursor("after", tiered=True), q.cursor("before", tiered=True)
    result = adapters.explorer().image_search_multiple(names, mode, limit, after, before)  # type: ignore[arg-type]
    base = {"descriptions": ",".join(names), "mode": mode, "image_limit": limit}
    n = len(result.found)
    images = [
        _image(h.image_id, matched=len(h.classes), of=n, classes=[_class(c) for c in h.classes])
        for h in result.hits
    ]
    data = {
        **base,
        "classes": [_class(c) for c in result.found],
        "count": len(images),
        "images": images,
        "not_found": _not_found_notes(result),
        "next": _cursor_link("image_search_multiple", base, "after", result.next),
        "previous": _cursor_link("image_search_multiple", base, "before", result.previous),
    }
    return View("image_search_multiple.html", "Images of several classes", data)


@page
def relation_search(q: Params) -> View:
    class1 = q.text("class1", "%")
    relation = q.text("relation", "%")
    class2 = q.text("class2", "%")
    limit = q.integer("image_limit", DEFAULTS["image_limit"], 1, MAX_LIMIT)
    offset = q.integer("offset", 0, 0, 100_000)
    result = adapters.explorer().relation_search(class1, relation, class2, limit, offset)
    base = {"class1": class1, "relation": relation, "class2": class2, "image_limit": limit}
    data = {
        **base,
        "offset": offset,
        "count": len(result.rows),
        "relations": [_relation(r) for r in result.rows],
        "unmatched_patterns": result.unmatched,
        "next": url("relation_search", **base, offset=offset + limit) if result.has_next else None,
        "previous": url("relation_search", **base, offset=max(offset - limit, 0) or None)
        if offset
        else None,
    }
    return View("relation_search.html", "Relation search", data)
