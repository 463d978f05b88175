"""The API described: the function index (`/?format=json`) and an OpenAPI 3.1 document,
both made from the manifest and the parameters each page declares (`render.PAGES`), so
they say what the code reads and cannot drift from it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .params import TIERED, Field
from .render import PAGES
from .results import results as _results  # noqa: F401  (registers its page)
from .uploads import FIELDS as UPLOAD_FIELDS

if TYPE_CHECKING:
    from ..app import App

UPLOADS = {
    "image_classify": "Classify uploaded images with the TFLite model.",
    "label_detection": "Label uploaded images with Cloud Vision.",
}
EVENTS = {
    "classify_tflite": "Classify a new object, or a requested image, with the TFLite model.",
    "classify_vision": "Label a new object, or a requested image, with Cloud Vision.",
}
ERROR = {
    "type": "object",
    "required": ["ok", "status", "error"],
    "properties": {
        "ok": {"const": False},
        "status": {"type": "integer"},
        "error": {"type": "string", "description": "what is wrong, in one sentence"},
        "param": {"type": "string", "description": "the parameter at fault"},
    },
}


def schema(f: Field) -> dict[str, Any]:
    """The JSON Schema of a parameter's values."""
    out: dict[str, Any]
    if f.kind == "integer":
        out = {"type": "integer", "minimum": f.low, "maximum": f.high, "default": f.default}
    elif f.kind == "number":
        out = {"type": "number", "minimum": f.low, "maximum": f.high, "default": f.default}
    elif f.kind in ("choice", "flag"):
        out = {"type": "string", "enum": list(f.choices), "default": f.default}
    elif f.kind in ("image_id", "cursor"):
        out = {"type": "string", "pattern": "^[0-9a-fA-F]{16}$"}
    elif f.kind == "tiered":
        out = {"type": "string", "pattern": f"^{TIERED.pattern}$"}
    elif f.kind == "timestamp":
        out = {"type": "string", "description": "ISO 8601 date or time; UTC without a zone"}
    else:  # text, names
        out = {"type": "string", "maxLength": f.max_len}
        if f.default:
            out["default"] = f.default
    if f.example is not None:
        out["examples"] = [f.example]
    return out


def _parameter(f: Field) -> dict[str, Any]:
    return {"name": f.name, "in": "query", "required": f.required, "description": f.doc,
            "schema": schema(f)}  # fmt: skip


def _format(formats: tuple[str, ...]) -> dict[str, Any]:
    return {"name": "format", "in": "query", "required": False,
            "description": "the answer's format (default: from Accept, else html)",
            "schema": {"type": "string", "enum": list(formats)}}  # fmt: skip


def _functions(app: App) -> list[tuple[str, str]]:
    """(name, kind) of every function, by name: the pages, the upload functions and the
    event functions. A deployed bundle carries no manifest, so this list is the code's; a
    test holds it equal to the manifest's."""
    named = [(n, "http") for n in (*PAGES, *UPLOADS)] + [(n, "event") for n in EVENTS]
    return sorted(named)


def function_index(app: App) -> list[dict[str, Any]]:
    """Every function: its address, method and parameters."""
    out = []
    for name, kind in _functions(app):
        entry: dict[str, Any] = {"name": name, "kind": kind, "url": app.links.url(name)}
        info = PAGES.get(name)
        if info is not None:
            entry.update(method="GET", doc=info.doc, formats=list(info.formats),
                         parameters=[{"name": p.name, "doc": p.doc, "required": p.required,
                                      **schema(p)} for p in info.fields])  # fmt: skip
        elif name in UPLOADS:
            entry.update(method="POST", doc=UPLOADS[name], formats=["html", "json"],
                         parameters=[{"name": "files", "doc": "the images (multipart)",
                                      "required": True, "type": "file"},
                                     *({"name": p.name, "doc": p.doc, "required": False,
                                        **schema(p)} for p in UPLOAD_FIELDS)])  # fmt: skip
        else:  # a CloudEvent function: a bucket notification or a Pub/Sub request
            entry.update(
                method="POST",
                doc=EVENTS[name],
                parameters=[],
                body='a CloudEvent: an object finalized, or {"uri"} or {"image_id"}',
            )
        out.append(entry)
    return out


def openapi(app: App) -> dict[str, Any]:
    """The JSON API as an OpenAPI 3.1 document."""
    paths: dict[str, Any] = {}
    answers = {
        "400": {"description": "bad input", "content": {"application/json": {"schema": ERROR}}},
        "503": {"description": "a resource is unavailable now; Retry-After may say when",
                "content": {"application/json": {"schema": ERROR}}},
    }  # fmt: skip
    for name, _kind in _functions(app):
        path = "/" if name == "index" else f"/{name}"
        info = PAGES.get(name)
        if info is not None:
            ok: dict[str, Any] = {
                "application/json": {"schema": {"type": "object",
                                                "properties": {"ok": {"const": True}}}},
                "text/html": {"schema": {"type": "string"}},
            }  # fmt: skip
            if info.rows:
                ok["text/csv"] = {"schema": {"type": "string"}}
                ok["application/x-ndjson"] = {"schema": {"type": "string"}}
            paths[path] = {"get": {
                "operationId": name, "summary": info.doc or name,
                "parameters": [*map(_parameter, info.fields), _format(info.formats)],
                "responses": {"200": {"description": "the page", "content": ok}, **answers},
            }}  # fmt: skip
        elif name in UPLOADS:
            form = {"type": "object", "required": ["files"], "properties": {
                "files": {"type": "array", "items": {"type": "string",
                                                     "contentMediaType": "image/*"}},
                **{p.name: schema(p) for p in UPLOAD_FIELDS}}}  # fmt: skip
            paths[path] = {"post": {
                "operationId": name, "summary": UPLOADS[name],
                "requestBody": {"required": True,
                                "content": {"multipart/form-data": {"schema": form}}},
                "responses": {"200": {"description": "one answer per file", "content": {
                    "application/json": {"schema": {"type": "object"}}}},
                    "413": {"description": "over a limit",
                            "content": {"application/json": {"schema": ERROR}}}, **answers},
            }}  # fmt: skip
    return {
        "openapi": "3.1.0",
        "info": {"title": "Open Images Explorer", "version": "1",
                 "description": "Every page is HTML and JSON; list pages are also CSV and "
                                "NDJSON (format=csv, format=ndjson), whole."},
        "servers": [{"url": app.links.base_url or "/"}],
        "paths": paths,
    }  # fmt: skip
