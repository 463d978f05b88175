"""The local host: every HTTP function on one port at `/NAME`, as deployed.

Each function is built with `functions_framework.create_app` from the very
`functions/NAME/main.py` that is deployed, so local and cloud run the same code.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import functions_framework
from werkzeug.wrappers import Response

HTTP_FUNCTIONS = (
    "index",
    "classes",
    "relations",
    "image_info",
    "image_search",
    "image_search_multiple",
    "relation_search",
    "image_classify",
    "image_classify_classes",
    "results",
    "label_detection",
)
# CloudEvent functions, reachable on the local host too: `oie publish` posts to them.
EVENT_FUNCTIONS = ("classify_tflite", "classify_vision")


def functions_dir() -> Path:
    """`functions/` of this checkout (OIE_FUNCTIONS_DIR overrides)."""
    configured = os.environ.get("OIE_FUNCTIONS_DIR")
    candidates = [Path(configured)] if configured else []
    candidates += [Path.cwd() / "functions", Path(__file__).resolve().parents[3] / "functions"]
    for path in candidates:
        if (path / "index" / "main.py").is_file():
            return path
    raise FileNotFoundError(
        "cannot find the functions/ folder; run from the project root or set OIE_FUNCTIONS_DIR"
    )


def _not_found(environ, start_response):  # type: ignore[no-untyped-def]
    names = ", ".join(f"/{n}" for n in HTTP_FUNCTIONS)
    return Response(f"No function here. Functions: {names}\n", 404)(environ, start_response)


def create_host(names: Iterable[str] = HTTP_FUNCTIONS + EVENT_FUNCTIONS,
                source_dir: Path | None = None):  # type: ignore[no-untyped-def]  # fmt: skip
    """One WSGI app routing `/NAME` to each function's own functions-framework app."""
    folder = source_dir or functions_dir()
    apps = {
        name: functions_framework.create_app(
            target=name,
            source=str(folder / name / "main.py"),
            signature_type="cloudevent" if name in EVENT_FUNCTIONS else "http",
        )
        for name in names
    }

    def host(environ, start_response):  # type: ignore[no-untyped-def]
        # `/NAME/rest` runs function NAME with path `/rest`, as on Cloud Functions; `/` is index.
        name, _, rest = environ.get("PATH_INFO", "/").lstrip("/").partition("/")
        app = apps.get(name or "index")
        if app is None:
            return _not_found(environ, start_response)
        if name:
            environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + "/" + name
        environ["PATH_INFO"] = "/" + rest
        return app(environ, start_response)

    return host


def start_watcher() -> object:
    """Classify what lands in the bucket folder, in this process (it owns the warehouse)."""
    from .. import adapters, settings
    from .watcher import FolderWatcher

    s = settings.get()
    dispatch = [adapters.runner(name).handle for name in adapters.available_classifiers()]
    return FolderWatcher(s.bucket_folder, s.bucket, dispatch).start()


def serve(host: str = "127.0.0.1", port: int = 8080, threads: int = 8, watch: bool = True) -> None:
    """Serve the local host with gunicorn, as functions-framework does in production.

    With `watch`, the worker process also watches the bucket folder (see watcher.py).
    """
    from functions_framework._http.gunicorn import GunicornApplication

    os.environ.setdefault("THREADS", str(threads))
    options = {"post_worker_init": lambda worker: start_watcher()} if watch else {}
    GunicornApplication(create_host(), host, port, False, **options).run()
