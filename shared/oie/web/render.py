"""Turning a page's result into HTML or JSON, and any failure into a clear 4xx/5xx answer."""

from __future__ import annotations

import functools
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import flask
from jinja2 import Environment, PackageLoader, select_autoescape

from .. import settings
from ..errors import Failure, Unavailable
from .params import InputError, Params

log = logging.getLogger("oie.web")

_env = Environment(
    loader=PackageLoader("oie.web", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def url(name: str, **params: Any) -> str:
    """A link to another function: `/NAME?...`, under OIE_BASE_URL when set."""
    query = urlencode({k: v for k, v in params.items() if v is not None and v != ""})
    path = "/" if name == "index" else f"/{name}"
    return settings.get().base_url + path + (f"?{query}" if query else "")


def image_url(image_id: str) -> str:
    return settings.get().image_url(image_id)


_env.globals.update(url=url, image_url=image_url)


@dataclass
class View:
    template: str
    title: str
    data: dict[str, Any]  # the JSON answer; the template sees it as `data`
    context: dict[str, Any] = field(default_factory=dict)  # template-only extras
    status: int = 200
    retry_after: int | None = None  # seconds: a 503 that may go away


def wants_json(request: flask.Request) -> bool:
    fmt = request.args.get("format", "").lower()
    if fmt in ("json", "html"):
        return fmt == "json"
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def error_view(status: int, message: str, param: str | None = None) -> View:
    data: dict[str, Any] = {"ok": False, "status": status, "error": message}
    if param:
        data["param"] = param
    return View("error.html", "Error" if status >= 500 else "Bad request", data, status=status)


def failure_view(exc: BaseException, where: str) -> View:
    """The answer to an exception: 503 for what is unavailable now, else a 500 with an id.

    The user sees the exception's public message (503) or only an id to quote (500); the
    log gets the detail, with the id.
    """
    if isinstance(exc, Unavailable):
        log.error("unavailable on %s: %s%s", where, exc, f" ({exc.detail})" if exc.detail else "")
        view = error_view(exc.status, f"Not available: {exc}")
        view.retry_after = exc.retry_after
        return view
    error_id = uuid.uuid4().hex[:12]
    if isinstance(exc, Failure):
        log.error("failed on %s [error %s]: %s", where, error_id, exc.detail)
    else:
        log.exception("failed on %s [error %s]", where, error_id, exc_info=exc)
    message = f"Something went wrong on our side; it has been logged as error {error_id}."
    view = error_view(Failure.status, message)
    view.data["error_id"] = error_id
    return view


def render(request: flask.Request, view: View) -> flask.Response:
    if wants_json(request):
        body = json.dumps({"ok": view.status < 400, **view.data}, ensure_ascii=False)
        response = flask.Response(body, view.status, mimetype="application/json")
    else:
        html = _env.get_template(view.template).render(
            title=view.title, data=view.data, request=request, **view.context
        )
        response = flask.Response(html, view.status, mimetype="text/html")
    response.headers["Vary"] = "Accept"
    if view.retry_after:
        response.headers["Retry-After"] = str(view.retry_after)
    if view.status == 200:
        response.headers["Cache-Control"] = "public, max-age=300"
    return response


Handler = Callable[[flask.Request], flask.Response]


def page(fn: Callable[[Params], View]) -> Handler:
    """Wrap a page: parse the request, answer bad input with 400, never leak a traceback."""

    @functools.wraps(fn)
    def handler(request: flask.Request) -> flask.Response:
        if request.method not in ("GET", "HEAD"):
            view = error_view(405, f"{request.method} is not allowed here; use GET")
        else:
            try:
                view = fn(Params(request.args))
            except InputError as exc:
                view = error_view(400, exc.message, exc.param)
            except Exception as exc:
                view = failure_view(exc, request.full_path)
        response = render(request, view)
        if view.status == 405:
            response.headers["Allow"] = "GET, HEAD"
        return response

    return handler
