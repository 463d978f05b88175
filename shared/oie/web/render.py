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

from ..errors import InputError, NotAllowed, Problem, problem
from ..links import Links
from .params import Params, query

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


def respond(request: flask.Request, app: App, make: Callable[[], View], where: str = ""
            ) -> flask.Response:  # fmt: skip
    """The one path from a request to an answer: the view, or the problem of what it raised,
    rendering included (a template that fails is a logged 500, not the framework's page)."""
    try:
        return render(request, make(), app.links)
    except Exception as exc:
        view = problem_view(problem(exc, where or _where(request)))
    try:
        return render(request, view, app.links)
    except Exception as exc:  # the error page itself failed: plain text, still no traceback
        problem(exc, "rendering the error page")
        return flask.Response(f"{view.data['error']}\n", view.status, view.headers,
                              mimetype="text/plain")  # fmt: skip


Handler = Callable[[flask.Request, "App"], flask.Response]


def page(fn: Callable[[Params, App], View]) -> Handler:
    """A GET page: its query parameters in, HTML or JSON out; bad input is a 400."""

    @functools.wraps(fn)
    def handler(request: flask.Request, app: App) -> flask.Response:
        def make() -> View:
            if request.method not in ("GET", "HEAD"):
                raise NotAllowed(f"{request.method} is not allowed here; use GET", "GET, HEAD")
            return fn(Params(query(request)), app)

        return respond(request, app, make)

    return handler
