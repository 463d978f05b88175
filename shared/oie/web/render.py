"""Turning a page's result into HTML or JSON, and any failure into a clear 4xx/5xx answer."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import flask
from jinja2 import Environment, PackageLoader, select_autoescape
from werkzeug.datastructures import MultiDict

from ..errors import InputError, NotAllowed, Problem, problem
from ..links import Links
from .export import FORMATS, export, export_args
from .params import Field, Params, query

if TYPE_CHECKING:
    from ..app import App

_env = Environment(
    loader=PackageLoader("oie.web", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


PUBLIC_CACHE = "public, max-age=300"  # a 200 of a public page; a View may say otherwise
PRIVATE = "private, no-store"  # pages showing what users uploaded


@dataclass
class View:
    template: str
    title: str
    data: dict[str, Any]  # the JSON answer; the template sees it as `data`
    context: dict[str, Any] = field(default_factory=dict)  # template-only extras
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


def wants_json(request: flask.Request) -> bool:
    try:
        fmt = query(request).get("format", "").lower()
    except InputError:
        fmt = ""  # the page says so; the answer's format comes from Accept
    if fmt in ("json", "html"):
        return fmt == "json"
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def problem_view(p: Problem) -> View:
    data: dict[str, Any] = {"ok": False, "status": p.status, "error": p.message}
    if p.param:
        data["param"] = p.param
    if p.error_id:
        data["error_id"] = p.error_id
    headers = {}
    if p.retry_after:
        headers["Retry-After"] = str(p.retry_after)
    if p.allow:
        headers["Allow"] = p.allow
    title = "Error" if p.status >= 500 else "Bad request"
    return View("error.html", title, data, status=p.status, headers=headers)


def json_view(request: flask.Request) -> str:
    """This page's own address as JSON: its arguments, `format=json` in place of any format."""
    try:
        args = [(k, v) for k, v in query(request).items(multi=True) if k != "format"]
    except InputError:
        args = []
    return "?" + urlencode([*args, ("format", "json")])


def render(request: flask.Request, view: View, links: Links) -> flask.Response:
    if wants_json(request):
        body = json.dumps({"ok": view.status < 400, **view.data}, ensure_ascii=False)
        response = flask.Response(body, view.status, mimetype="application/json")
    else:
        html = _env.get_template(view.template).render(
            title=view.title, data=view.data, request=request, url=links.url,
            image_url=links.photo, json_view=json_view(request), **view.context,
        )  # fmt: skip
        response = flask.Response(html, view.status, mimetype="text/html")
    response.headers["Vary"] = "Accept"
    response.headers.update(view.headers)
    if view.status == 200 and "Cache-Control" not in view.headers:
        response.headers["Cache-Control"] = PUBLIC_CACHE
    return response


def _where(request: flask.Request) -> str:
    """The request's path and query for the log; undecodable bytes replaced, not raised."""
    query = request.query_string.decode("utf-8", "replace")
    return f"{request.path}?{query}" if query else request.path


def respond(request: flask.Request, app: App, make: Callable[[], View], where: str = "",
            stream: Callable[[View], flask.Response | None] | None = None,
            ) -> flask.Response:  # fmt: skip
    """The one path from a request to an answer: the view, or the problem of what it raised,
    rendering included (a template that fails is a logged 500, not the framework's page).
    `stream`, given the view, may answer instead (an export)."""
    try:
        view = make()
        streamed = stream(view) if stream else None
        if streamed is None:
            return render(request, view, app.links)
        streamed.headers.setdefault("Cache-Control", PUBLIC_CACHE)
        return streamed
    except Exception as exc:
        view = problem_view(problem(exc, where or _where(request)))
    try:
        return render(request, view, app.links)
    except Exception as exc:  # the error page itself failed: plain text, still no traceback
        problem(exc, "rendering the error page")
        return flask.Response(f"{view.data['error']}\n", view.status, view.headers,
                              mimetype="text/plain")  # fmt: skip


Handler = Callable[[flask.Request, "App"], flask.Response]
PageFn = Callable[[Params, "App"], View]
PAGE_FORMATS = ("html", "json")


@dataclass(frozen=True)
class PageInfo:
    """What the function index and the OpenAPI document say of a page (`oie.web.api`)."""

    name: str
    doc: str
    fields: tuple[Field, ...]
    formats: tuple[str, ...]
    rows: str | None


PAGES: dict[str, PageInfo] = {}  # every page, by function name


def page(fn: PageFn | None = None, *, rows: str | None = None,
         fields: tuple[Field, ...] = ()) -> Any:  # fmt: skip
    """A GET page: its query parameters in, HTML or JSON out; bad input is a 400. A list
    page names its list (`rows`): `format=csv` or `ndjson` exports all of it (export.py).
    `fields` are the parameters it reads (declared in its module), for its description."""
    if fn is None:
        return functools.partial(page, rows=rows, fields=fields)
    formats = (*PAGE_FORMATS, *(FORMATS if rows else ()))
    doc = (fn.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
    PAGES[fn.__name__] = PageInfo(fn.__name__, doc, fields, formats, rows)

    @functools.wraps(fn)
    def handler(request: flask.Request, app: App) -> flask.Response:
        fmt = ""

        def make() -> View:
            nonlocal fmt
            if request.method not in ("GET", "HEAD"):
                raise NotAllowed(f"{request.method} is not allowed here; use GET", "GET, HEAD")
            args = query(request)
            fmt = (args.get("format") or "").lower()
            if fmt and fmt not in formats:
                raise InputError("format", f"format must be one of {', '.join(formats)}")
            if fmt in FORMATS:
                args = MultiDict(export_args(list(args.items(multi=True))))
            return fn(Params(args), app)

        if rows is None:
            return respond(request, app, make)
        return respond(request, app, make,
                       stream=lambda view: export(fn, view, rows, fmt, app)
                       if fmt in FORMATS and view.status == 200 else None)  # fmt: skip

    return handler
