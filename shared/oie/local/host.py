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
from werkzeug.wrappers import Response

from .. import manifest

if TYPE_CHECKING:
    from ..app import App


def _not_found(environ: WSGIEnvironment, start_response: StartResponse,
               names: Iterable[str]) -> Iterable[bytes]:  # fmt: skip
    listed = ", ".join(f"/{n}" for n in names)
    return Response(f"No function here. Functions: {listed}\n", 404)(environ, start_response)


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
        name, _, rest = environ.get("PATH_INFO", "/").lstrip("/").partition("/")
        app = apps.get(name or "index")
        if app is None:
            return _not_found(environ, start_response, apps)
        if name:
            environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + "/" + name
        environ["PATH_INFO"] = "/" + rest
        return app(environ, start_response)

    return host


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
