"""Run the bqemulator REST server offline.

Meant to be run by the bqemulator virtualenv's interpreter, not the main one::

    .venv-bqemu/bin/python tests/support/bqemulator_server.py --port 9050 --project oie-test

bqemulator normally starts via ``bqemulator start`` (``bqemulator.cli:main``),
which builds a ``bqemulator.config.Settings`` and calls
``bqemulator.server.run_forever``. This script does the same with a few patches
(site-packages is left untouched):

* ``DuckDBEngine._load_spatial`` becomes a no-op: offline, ``INSTALL spatial``
  fails and aborts start-up. GEOGRAPHY / ``ST_*`` functions are unavailable.
* jobs.query (``POST .../queries``, used by ``Client.query_and_wait``) gets
  real BigQuery's behaviour: it honours ``defaultDataset`` (the emulator only
  does so for jobs.insert), and a failed query answers with an HTTP error
  instead of HTTP 200 with ``errors``, which the client took as an empty result.
* Column names keep the spelling the statement gave them, as in BigQuery: the
  emulator's type pass (sqlglot's ``qualify``) lower-cases every identifier, so a
  CTAS that needed a rewrite stored ``ImageKey`` as ``imagekey``.
* An unhandled server error answers HTTP 400 with the exception text instead of
  a bare 500, which google-cloud-bigquery would retry for up to 600 s.

The ``avro`` extension load is disabled and the gRPC (Storage API) server gets a
random port so parallel emulators do not clash. Data lives in memory only. With
``--gcs-root DIR`` a load job reads ``gs://BUCKET/OBJECT`` from ``DIR/BUCKET/OBJECT``.
With ``--watch-parent`` the server stops when the process that started it dies.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

# Python puts this script's folder first on sys.path, where the sibling helper
# bqemulator.py would shadow the real bqemulator package: drop that entry.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Message, Receive, Send], Awaitable[None]]

_QUERIES = re.compile(r"^/bigquery/v2/projects/([^/]+)/queries$")
_HTTP_STATUS = {"notFound": 404, "duplicate": 409, "accessDenied": 403, "resourceInUse": 409}


def _skip_spatial(self: object) -> None:
    """Replacement for ``DuckDBEngine._load_spatial``: no network, no GEOGRAPHY."""


class JobsQueryFix:
    """ASGI middleware making the emulator's jobs.query behave like BigQuery's."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        match = _QUERIES.match(scope.get("path", ""))
        if scope["type"] != "http" or scope["method"] != "POST" or match is None:
            await self.app(scope, receive, send)
            return
        from bqemulator.api.routes.jobs import _apply_default_dataset

        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        try:
            request = json.loads(body)
            sql = _apply_default_dataset(request["query"], request, request_project_id=match[1])
            body = json.dumps({**request, "query": sql}).encode()
        except Exception:  # not ours to judge: the route reports malformed requests
            pass
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        start: Message = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            else:
                chunks.append(message.get("body", b""))

        await self.app(scope, replay, capture)
        status, payload = int(start["status"]), b"".join(chunks)
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        try:
            errors = json.loads(payload).get("errors") if status == 200 else None
        except ValueError:
            errors = None
        if errors:
            status = _HTTP_STATUS.get(errors[0].get("reason", ""), 400)
            message = errors[0].get("message", "query failed")
            payload = json.dumps(
                {"error": {"code": status, "message": message, "errors": errors}}
            ).encode()
        headers.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


async def _internal_error_as_400(request: Any, exc: Exception) -> Any:
    from fastapi.responses import JSONResponse

    message = f"bqemulator internal error: {type(exc).__name__}: {exc}"
    error = {"reason": "invalid", "message": message}
    return JSONResponse(
        status_code=400, content={"error": {"code": 400, "message": message, "errors": [error]}}
    )


def _keep_identifier_case(expression: Any, dialect: Any = None, **_: Any) -> Any:
    """Replacement for sqlglot's ``normalize_identifiers`` inside ``qualify``."""
    return expression


def _watch_parent() -> None:
    """SIGTERM ourselves (a clean stop) once the parent process is gone."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()


def main() -> None:
    import bqemulator.server as server
    from bqemulator.config import LogLevel, PersistenceMode, Settings
    from bqemulator.storage.engine import DuckDBEngine

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="REST port on 127.0.0.1")
    parser.add_argument("--project", default="oie-test", help="default project id")
    parser.add_argument("--log-level", default="warning", choices=[lv.value for lv in LogLevel])
    parser.add_argument("--watch-parent", action="store_true", help="exit when the parent dies")
    parser.add_argument("--gcs-root", type=Path, help="folder that gs://BUCKET/OBJECT maps into")
    args = parser.parse_args()
    if args.watch_parent:
        _watch_parent()

    DuckDBEngine._load_spatial = _skip_spatial  # type: ignore[method-assign]
    import sqlglot.optimizer.qualify

    sqlglot.optimizer.qualify.normalize_identifiers = _keep_identifier_case  # type: ignore[assignment]
    create_app = server.create_app

    def create_patched_app(context: Any) -> Any:
        app = create_app(context)
        app.add_middleware(JobsQueryFix)
        app.add_exception_handler(Exception, _internal_error_as_400)
        return app

    server.create_app = create_patched_app  # type: ignore[assignment]
    settings = Settings(
        rest_host="127.0.0.1",
        rest_port=args.port,
        grpc_host="127.0.0.1",
        grpc_port=0,
        persistence_mode=PersistenceMode.EPHEMERAL,
        default_project_id=args.project,
        gcs_local_root=args.gcs_root,
        enable_format_extensions=False,
        log_level=LogLevel(args.log_level),
        metrics_enabled=False,
    )
    server.EmulatorServer(settings).run_forever()  # blocks until SIGINT/SIGTERM


if __name__ == "__main__":
    main()
