"""The local host: every HTTP function on one port at `/NAME`, as deployed.

Each function is built with `functions_framework.create_app` from the very
`functions/NAME/main.py` that is deployed, so local and cloud run the same code.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

import functions_framework
from werkzeug.utils import send_file
from werkzeug.wrappers import Request, Response

from .. import manifest

if TYPE_CHECKING:
    from ..app import App

PHOTO_MAX_AGE = 86400  # a photo never changes under its ImageId
STATUS_PATH = "/_local/status"  # the warehouse's tables, for `oie status` while this runs
OPENAPI_PATH = "/openapi.json"  # the JSON API described (oie.web.api)
AUTOML_PATH = "/_local/automl-csv"  # `oie automl-csv` while this runs (it holds the data)


def _not_found(environ: WSGIEnvironment, start_response: StartResponse,
               names: Iterable[str]) -> Iterable[bytes]:  # fmt: skip
    """A 404 as every page answers: HTML, or JSON when asked, listing the functions."""
    from ..app import current
    from ..web.render import View, render

    request = Request(environ)
    listed = [f"/{n}" for n in sorted(names)]
    data = {"status": 404, "error": f"No page at {request.path}.", "functions": listed}
    view = View("not_found.html", "Page not found", data, status=404)
    try:  # render reads only what a werkzeug Request has of flask's
        response: Response = render(request, view, current().links)  # type: ignore[arg-type]
    except Exception:  # the page itself failed: still a 404, in plain text
        response = Response(f"No function here. Functions: {', '.join(listed)}\n", 404)
    return response(environ, start_response)


def _is_photo(folder: Path, name: str) -> bool:
    """Only a name the folder's listing holds is served, so no other file can be read."""
    from ..links import photo_index

    return photo_index(folder).get(Path(name).stem.lower()) == name


def _photo(environ: WSGIEnvironment, start_response: StartResponse,
           folder: Path, name: str) -> Iterable[bytes]:  # fmt: skip
    """One file of OIE_PHOTOS, cacheable."""
    from ..links import PHOTO_TYPES

    mimetype = PHOTO_TYPES[Path(name).suffix.lower()]
    response = send_file(folder / name, environ, mimetype, max_age=PHOTO_MAX_AGE)
    response.headers["Cache-Control"] = f"public, max-age={PHOTO_MAX_AGE}"
    return response(environ, start_response)


def create_host(names: Iterable[str] | None = None,
                source_dir: Path | None = None) -> WSGIApplication:  # fmt: skip
    """One WSGI app routing `/NAME` to each function's own functions-framework app: every
    function of the manifest in `source_dir` (default: this checkout's), or `names`.
    CloudEvent functions are reachable too: `oie publish` posts to them."""
    from ..app import current

    functions = manifest.load(source_dir or current().settings.functions_dir)
    wanted = {f.name for f in functions} if names is None else set(names)
    apps = {
        f.name: functions_framework.create_app(
            target=f.entry_point, source=str(f.source), signature_type=f.signature_type
        )
        for f in functions
        if f.name in wanted
    }

    def host(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        # `/NAME/rest` runs function NAME with path `/rest`, as on Cloud Functions; `/` is index.
        if environ.get("PATH_INFO") == STATUS_PATH:
            return _status(environ, start_response)
        if environ.get("PATH_INFO") == OPENAPI_PATH:
            return _openapi(environ, start_response)
        if environ.get("PATH_INFO") == AUTOML_PATH:
            return _automl(environ, start_response)
        name, _, rest = environ.get("PATH_INFO", "/").lstrip("/").partition("/")
        photos = current().settings.photos
        if name == "photos" and photos is not None and _is_photo(photos, rest):
            return _photo(environ, start_response, photos, rest)
        app = apps.get(name or "index")
        if app is None:
            return _not_found(environ, start_response, apps)
        if name:
            environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + "/" + name
        environ["PATH_INFO"] = "/" + rest
        return app(environ, start_response)

    return host


def table_rows(app: App) -> dict[str, int | None]:
    """Rows in each table the explorer loads or derives (None: missing)."""
    from ..tables import DERIVED, LOADED

    return {t: app.warehouse.row_count(t) for t in (*LOADED, *(d.name for d in DERIVED))}


def _status(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """The warehouse's tables as JSON: this process holds the DuckDB file, so a command
    run beside it asks here rather than open the file."""
    import json

    from ..app import current

    body = json.dumps({"tables": table_rows(current())})
    return Response(body, mimetype="application/json")(environ, start_response)


def _automl(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """`oie automl-csv` for a command run beside this stack: its arguments as JSON in, its
    output (`automl.Export`) as JSON out; bad input a 400 saying why."""
    import json
    from dataclasses import asdict

    from ..app import current
    from ..dataset import automl

    request = Request(environ)
    try:
        asked = json.loads(request.get_data(as_text=True) or "{}")
        app = current()
        made = automl.export(app.warehouse, app.explorer.catalog, **asked)
    except automl.UnknownClasses as exc:
        return _json({"error": exc.describe()}, 400)(environ, start_response)
    except (ValueError, TypeError) as exc:
        return _json({"error": str(exc)}, 400)(environ, start_response)
    return _json(asdict(made), 200)(environ, start_response)


def _json(body: object, status: int) -> Response:
    import json

    return Response(json.dumps(body), status, mimetype="application/json")


def _openapi(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    import json

    from ..app import current
    from ..web.api import openapi

    body = json.dumps(openapi(current()), indent=1)
    return Response(body, mimetype="application/json")(environ, start_response)


def start_watcher(app: App) -> object:
    """Classify what lands in the bucket folder, in this process (it owns the warehouse)."""
    from .watcher import FolderWatcher

    s = app.settings
    dispatch = [app.runner(name).handle for name in app.available_classifiers()]
    return FolderWatcher(s.bucket_folder, s.bucket, dispatch).start()


def serve(host: str = "127.0.0.1", port: int = 8080, threads: int | None = None,
          watch: bool = True) -> None:  # fmt: skip
    """Serve the local host with gunicorn, as functions-framework does in production.

    Its threads are, unless given, the largest concurrency of the manifest: one instance of
    a function serves that many requests at once when deployed, so a few slow clients here
    hold a few threads, not all of them. With `watch`, the worker process also watches the
    bucket folder (see watcher.py).
    """
    from functions_framework._http.gunicorn import GunicornApplication

    from ..app import current

    if threads is None:
        threads = max(f.concurrency for f in manifest.load(current().settings.functions_dir))
    os.environ.setdefault("THREADS", str(threads))

    options = {"post_worker_init": lambda worker: start_watcher(current())} if watch else {}
    GunicornApplication(create_host(), host, port, False, **options).run()
