"""Serve requests from one deployed bundle, inside that bundle's own virtualenv.

Run by tests/test_bundles.py and tests/bench/bundle_bench.py with the bundle venv's python,
in isolated mode and with the bundle folder as the working directory::

    VENV/bin/python -I tests/support/bundle_probe.py SPEC.json

It uses only the standard library and functions_framework (and the Flask test client that
functions_framework's app comes with): what Cloud Functions has once it has installed the
bundle's requirements.txt. SPEC is a JSON object:

- `target`: the function's name; `signature_type`: "http" (default) or "cloudevent";
- `requests`: a list of {"method", "path", "headers", "files": [[field, path, filename]],
  "json"}, served one after the other;
- `out`: where to write the report, a JSON object: for each request its status, content
  type and body (parsed when JSON), and the modules loaded after `create_app` and after
  serving (`sys.modules`), where `oie` and `main` were loaded from, and timings.
"""

from __future__ import annotations

import json
import os
import sys
import time
from contextlib import ExitStack
from typing import Any

started = time.perf_counter()
import functions_framework  # noqa: E402  (timed from the interpreter's start)


def serve(client: Any, request: dict[str, Any]) -> dict[str, Any]:
    """One request through the Flask test client; its answer as a JSON-able dict."""
    kwargs: dict[str, Any] = {"headers": request.get("headers") or {}}
    with ExitStack() as stack:
        if request.get("files"):
            data: dict[str, list[tuple[Any, str]]] = {}
            for field, path, filename in request["files"]:
                data.setdefault(field, []).append((stack.enter_context(open(path, "rb")), filename))
            kwargs["data"] = data
        if "json" in request:
            kwargs["data"] = json.dumps(request["json"])
        begun = time.perf_counter()
        response = client.open(request["path"], method=request.get("method", "GET"), **kwargs)
        elapsed = time.perf_counter() - begun
    body = response.get_data(as_text=True)
    try:
        parsed = json.loads(body) if response.mimetype == "application/json" else None
    except ValueError:
        parsed = None
    return {
        "status": response.status_code,
        "content_type": response.mimetype,
        "json": parsed,
        "text": body if parsed is None else "",
        "seconds": elapsed,
    }


def main() -> None:
    with open(sys.argv[1]) as file:
        spec = json.load(file)
    begun = time.perf_counter()
    app = functions_framework.create_app(
        target=spec["target"], source="main.py", signature_type=spec.get("signature_type")
    )
    created = time.perf_counter()
    at_start = sorted(sys.modules)
    client = app.test_client()
    answers = [serve(client, request) for request in spec.get("requests", [])]
    oie = sys.modules.get("oie")
    report = {
        "answers": answers,
        "modules_at_start": at_start,
        "modules": sorted(sys.modules),
        "oie_file": getattr(oie, "__file__", None),
        "main_file": getattr(sys.modules.get("main"), "__file__", None),
        "cwd": os.getcwd(),
        "sys_path": sys.path,
        "python": sys.version.split()[0],
        "import_framework_s": begun - started,
        "create_app_s": created - begun,
    }
    with open(spec["out"], "w") as out:
        json.dump(report, out)


if __name__ == "__main__":
    main()
