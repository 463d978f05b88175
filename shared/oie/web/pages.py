"""The explorer's pages, one handler per HTTP function; each is HTML and JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..catalog import Catalog, ClassInfo
from ..dataset.formats import LABEL
from ..errors import InputError
from ..explore import Cursor, Facets, Mode, Relation, SearchPage
from ..links import Links
from .params import MAX_LIMIT, Field, Params, choice, flag, integer, read, text
from .render import View, page

if TYPE_CHECKING:
    from ..app import App

IMAGE_LIMIT = 10  # images per page unless image_limit says otherwise
SUGGEST_LIMIT = 10  # names a type-ahead shows unless `limit` says otherwise
MAX_SUGGEST = 50
DEFAULTS = {  # the start page's forms, as the seed app's
    "image_id": "0041c772f8b9aef6",
    "description": "Cat",
    "descriptions": "Cat,Dog",
    "relation": "plays",
    "image_limit": IMAGE_LIMIT,
}


# Each page's query parameters, declared once: the page reads them through `read`, and the
# function index and the OpenAPI document (`oie.web.api`) describe them from here.
IMAGE_LIMIT_FIELD = integer("image_limit", "images per page", IMAGE_LIMIT, 1, MAX_LIMIT)
FACETS = flag("facets", "show the facet panel: classes and relations in the images found", True)
SUBCLASSES = flag("subclasses", "include every class below, in Open Images' hierarchy", False)


def _search_fields(cursor: str) -> tuple[Field, ...]:
    """What both image searches take after their classes: a page, a position, subclasses,
    facets; `cursor` is the kind of position (an ImageId, or tier-ImageId)."""
    return (
        IMAGE_LIMIT_FIELD,
        Field("after", cursor, "the page after this position (a next link's)"),
        Field("before", cursor, "the page before this position (a previous link's)"),
        SUBCLASSES,
        FACETS,
    )


FIELDS: dict[str, tuple[Field, ...]] = {
    "index": (),
    "classes": (
        integer("limit", "classes per page", MAX_LIMIT, 1, MAX_LIMIT),
        integer("offset", "classes to skip", 0, 0, 10**9),
    ),
    "relations": (),
    "image_info": (
        Field(
            "image_id",
            "image_id",
            "an Open Images id: 16 hex digits",
            example=str(DEFAULTS["image_id"]),
        ),
    ),
    "image_search": (
        text("description", "a class name, any case", example="Cat"),
        *_search_fields("cursor"),
    ),
    "image_search_multiple": (
        Field("descriptions", "names", "class names, comma-separated", example="Cat,Dog"),
        choice("mode", "images with any, or all, of the classes", "any", ("any", "all")),
        *_search_fields("tiered"),
    ),
    "relation_search": (
        text("class1", "LIKE pattern of the first class: % any text, _ one character", "%"),
        text("relation", "LIKE pattern of the relation", "%"),
        text("class2", "LIKE pattern of the second class", "%"),
        IMAGE_LIMIT_FIELD,
        integer("offset", "relations to skip", 0, 0, 100_000),
        FACETS,
    ),
    "suggest": (
        text("q", "the start of a word of a class name", max_len=100, example="cat"),
        integer("limit", "names at most", SUGGEST_LIMIT, 1, MAX_SUGGEST),
    ),
    "class_info": (
        text("label", "a class id like /m/01yrx (or give description)", ""),
        text("description", "a class name (or give label)", ""),
    ),
}


def _class(c: ClassInfo, links: Links) -> dict[str, Any]:
    return {
        "label": c.label,
        "description": c.description,
        "num_images": c.num_images,
        "image_search": links.url("image_search", description=c.description),
    }


def _image(image_id: str, links: Links, **extra: Any) -> dict[str, Any]:
    return {
        "image_id": image_id,
        "url": links.photo(image_id),
        "image_info": links.url("image_info", image_id=image_id),
        **extra,
    }


def _relation(r: Relation, links: Links) -> dict[str, Any]:
    return {
        **_image(r.image_id, links),
        "class1": _class(r.class1, links),
        "relation": r.relation,
        "relation_search": links.url("relation_search", relation=r.relation),
        "class2": _class(r.class2, links),
        "pattern_search": links.url(
            "relation_search",
            class1=r.class1.description, relation=r.relation, class2=r.class2.description,
        ),
    }  # fmt: skip


def _cursor_link(links: Links, name: str, params: dict[str, Any], key: str,
                 cursor: Cursor | None) -> str | None:  # fmt: skip
    return links.url(name, **params, **{key: cursor.encode()}) if cursor else None


def _not_found_notes(result: SearchPage, links: Links) -> list[dict[str, Any]]:
    return [
        {"name": name, "did_you_mean": [_class(c, links) for c in result.suggestions.get(name, [])]}
        for name in result.unknown
    ]


def _facets(f: Facets | None, links: Links, narrow: list[str], subclasses: bool
            ) -> dict[str, Any] | None:  # fmt: skip
    """The facet panel: each class links to the search narrowed by it (mode=all)."""
    if f is None:
        return None
    extra = {"subclasses": 1} if subclasses else {}
    return {
        "exact": f.exact,
        "sample": f.sample,
        "classes": [
            {
                **_class(c, links),
                "count": n,
                "narrow": links.url(
                    "image_search_multiple",
                    descriptions=",".join([*narrow, c.description]),
                    mode="all",
                    **extra,
                ),
            }
            for c, n in f.classes
        ],
        "relations": [
            {"relation": r, "count": n, "relation_search": links.url("relation_search", relation=r)}
            for r, n in f.relations
        ],
    }


def _keep_facets_off(base: dict[str, Any], facets: bool) -> None:
    """A page asked for without facets links to pages without them."""
    if not facets:
        base["facets"] = 0


def _with_subclasses(result: SearchPage, subclasses: bool, catalog: Catalog) -> dict[str, Any]:
    """What `subclasses=1` added: the classes below those searched, and their images."""
    if not subclasses:
        return {"subclasses": False}
    return {
        "subclasses": True,
        "subclasses_added": len(result.added),
        "classes_added": [c.description for c in result.added],
        "num_images_with_subclasses": {c.description: catalog.images_below(c)
                                       for c in result.found},
    }  # fmt: skip


@page(fields=FIELDS["index"])
def index(q: Params, app: App) -> View:
    """The start page: a form per function; in JSON, every function with its parameters."""
    from .api import function_index

    data = {"defaults": DEFAULTS, "uploads_public": app.settings.uploads_public,
            "functions": function_index(app)}  # fmt: skip
    return View("index.html", "Open Images Explorer", data)


@page(rows="classes", fields=FIELDS["classes"])
def classes(q: Params, app: App) -> View:
    links = app.links
    v = read(q, FIELDS["classes"])
    limit, offset = v["limit"], v["offset"]
    result = app.explorer.classes(offset, limit)
    more = offset + limit < result.total
    data = {
        "total": result.total,
        "offset": offset,
        "limit": limit,
        "classes": [_class(c, links) for c in result.classes],
        "next": links.url("classes", offset=offset + limit, limit=limit) if more else None,
        "previous": links.url("classes", offset=max(offset - limit, 0), limit=limit)
        if offset
        else None,
    }
    return View("classes.html", "Classes", data)


@page(rows="relations", fields=FIELDS["relations"])
def relations(q: Params, app: App) -> View:
    links = app.links
    rows = [
        {
            "relation": r.relation,
            "num_relations": r.num_relations,
            "num_images": r.num_images,
            "relation_search": links.url("relation_search", relation=r.relation),
        }
        for r in app.explorer.relations()
    ]
    return View("relations.html", "Relations", {"relations": rows})


@page(fields=FIELDS["image_info"])
def image_info(q: Params, app: App) -> View:
    links = app.links
    image_id = read(q, FIELDS["image_info"])["image_id"]
    info = app.explorer.image_info(image_id)
    if info is None:
        error = f"No image {image_id} in the data set: it has no labels and no relations."
        data = {"status": 404, "image_id": image_id, "error": error}
        return View("error.html", "Image not found", data, status=404)
    data = {
        **_image(info.image_id, links),
        "classes": [_class(c, links) for c in info.classes],
        "relations": [_relation(r, links) for r in info.relations],
    }
    return View("image_info.html", f"Image {image_id}", data)


@page(rows="images", fields=FIELDS["image_search"])
def image_search(q: Params, app: App) -> View:
    links = app.links
    v = read(q, FIELDS["image_search"])
    description, limit, subclasses = v["description"], v["image_limit"], v["subclasses"]
    after, before = v["after"], v["before"]
    result = app.explorer.image_search(description, limit, after=after, before=before,
                                       subclasses=subclasses)  # fmt: skip
    base: dict[str, Any] = {"description": description, "image_limit": limit}
    if subclasses:
        base["subclasses"] = 1
    _keep_facets_off(base, v["facets"])
    data = {
        **base,
        **_with_subclasses(result, subclasses, app.explorer.catalog),
        "class": _class(result.found[0], links) if result.found else None,
        "count": len(result.hits),
        "images": [_image(h.image_id, links) for h in result.hits],
        "not_found": _not_found_notes(result, links),
        "next": _cursor_link(links, "image_search", base, "after", result.next),
        "previous": _cursor_link(links, "image_search", base, "before", result.previous),
        "facets": _facets(
            app.explorer.image_search_facets(description, subclasses)
            if result.found and v["facets"] else None,
            links, [c.description for c in result.found], subclasses,
        ),
    }  # fmt: skip
    return View("image_search.html", f"Images of {description}", data)


@page(rows="images", fields=FIELDS["image_search_multiple"])
def image_search_multiple(q: Params, app: App) -> View:
    links = app.links
    v = read(q, FIELDS["image_search_multiple"])
    names, limit, subclasses = v["descriptions"], v["image_limit"], v["subclasses"]
    mode: Mode = "all" if v["mode"] == "all" else "any"
    after, before = v["after"], v["before"]
    result = app.explorer.image_search_multiple(names, mode, limit, after, before, subclasses)
    base: dict[str, Any] = {"descriptions": ",".join(names), "mode": mode, "image_limit": limit}
    if subclasses:
        base["subclasses"] = 1
    _keep_facets_off(base, v["facets"])
    n = len(result.found)
    images = [
        _image(
            h.image_id,
            links,
            matched=len(h.classes),
            of=n,
            classes=[_class(c, links) for c in h.classes],
        )
        for h in result.hits
    ]
    data = {
        **base,
        **_with_subclasses(result, subclasses, app.explorer.catalog),
        "classes": [_class(c, links) for c in result.found],
        "count": len(images),
        "images": images,
        "not_found": _not_found_notes(result, links),
        "next": _cursor_link(links, "image_search_multiple", base, "after", result.next),
        "previous": _cursor_link(links, "image_search_multiple", base, "before", result.previous),
        "facets": _facets(
            app.explorer.image_search_multiple_facets(names, mode, subclasses)
            if result.found and v["facets"] else None,
            links, [c.description for c in result.found], subclasses,
        ),
    }  # fmt: skip
    return View("image_search_multiple.html", "Images of several classes", data)


@page(rows="relations", fields=FIELDS["relation_search"])
def relation_search(q: Params, app: App) -> View:
    links = app.links
    v = read(q, FIELDS["relation_search"])
    class1, relation, class2 = v["class1"], v["relation"], v["class2"]
    limit, offset = v["image_limit"], v["offset"]
    result = app.explorer.relation_search(class1, relation, class2, limit, offset)
    base: dict[str, Any] = {"class1": class1, "relation": relation, "class2": class2,
                            "image_limit": limit}  # fmt: skip
    _keep_facets_off(base, v["facets"])
    data = {
        **base,
        "offset": offset,
        "count": len(result.rows),
        "relations": [_relation(r, links) for r in result.rows],
        "unmatched_patterns": result.unmatched,
        "next": links.url("relation_search", **base, offset=offset + limit)
        if result.has_next
        else None,
        "previous": links.url("relation_search", **base, offset=max(offset - limit, 0) or None)
        if offset
        else None,
        "facets": _facets(
            app.explorer.relation_search_facets(class1, relation, class2)
            if not result.unmatched and v["facets"] else None,
            links, [], False,
        ),
    }  # fmt: skip
    return View("relation_search.html", "Relation search", data)


@page(fields=FIELDS["suggest"])
def suggest(q: Params, app: App) -> View:
    """Type-ahead: class names with a word starting with `q`, most images first; when none
    does, the names `q` may be a misspelling of."""
    links = app.links
    v = read(q, FIELDS["suggest"])
    text, limit = v["q"], v["limit"]
    catalog = app.explorer.catalog
    found = catalog.complete(text, limit)
    near = [] if found else catalog.suggest(text, min(limit, 5))
    data = {
        "q": text,
        "limit": limit,
        "classes": [_class(c, links) for c in found],
        "did_you_mean": [_class(c, links) for c in near],
    }
    return View("suggest.html", f"Class names like {text}", data)


def _node(c: ClassInfo, links: Links, catalog: Catalog) -> dict[str, Any]:
    return {
        **_class(c, links),
        "num_images_with_subclasses": catalog.images_below(c),
        "class_info": links.url("class_info", label=c.label),
    }


@page(fields=FIELDS["class_info"])
def class_info(q: Params, app: App) -> View:
    """One class in the hierarchy: its parents, children, parts and paths to the root."""
    links, catalog = app.links, app.explorer.catalog
    v = read(q, FIELDS["class_info"])
    if v["label"]:
        label = v["label"]
        if not LABEL.match(label):
            raise InputError(
                "label", f"label must be an Open Images id like /m/01yrx, got {label!r}"
            )
        found = catalog.class_of(label)
        if found is None:
            raise InputError("label", f"no class {label} in the data set or its hierarchy")
    else:
        description = v["description"]
        if not description:
            raise InputError("description", "description is required (or give label)")
        found = catalog.find_in_hierarchy(description)
        if found is None:
            hints = ", ".join(c.description for c in catalog.suggest(description))
            raise InputError("description", f"no class named {description!r}"
                             + (f"; did you mean {hints}?" if hints else ""))  # fmt: skip
    tree = catalog.hierarchy

    def node(label: str) -> dict[str, Any]:
        c = catalog.class_of(label) or ClassInfo(label, label, 0)
        return _node(c, links, catalog)

    below = catalog.with_subclasses(found)
    data = {
        "class": _node(found, links, catalog),
        "in_hierarchy": found.label in tree,
        "parents": [{**node(e.parent), "kind": e.kind} for e in tree.parents(found.label)],
        "children": [node(label) for label in tree.children(found.label, "Subcategory")],
        "parts": [node(label) for label in tree.children(found.label, "Part")],
        "paths_to_root": [
            [node(label) for label in path] for path in tree.paths_to_root(found.label)
        ],
        "subclasses": len(below) - 1,
        "image_search_with_subclasses": links.url(
            "image_search", description=found.description, subclasses=1
        ),
    }
    return View("class_info.html", f"Class {found.description}", data)
