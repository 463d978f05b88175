"""The core of the fake: a threaded HTTP server, a router, per-project state, a request log
and injected faults. Each API module registers its routes with `Router.add`.

Every API is served under its own first path segment (`/pubsub/v1/...`, `/iam/v1/...`), as
gcloud's `api_endpoint_overrides/<api>` point there; Cloud Storage keeps its own
`/storage/v1/` and BigQuery its `/bigquery/v2/`.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

STATUS = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
          409: "ALREADY_EXISTS", 412: "FAILED_PRECONDITION", 500: "INTERNAL"}  # fmt: skip


class ApiError(Exception):
    """An error answered in Google's JSON format: {"error": {"code", "message", "status"}}."""

    def __init__(self, code: int, message: str, status: str | None = None):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status or STATUS.get(code, "")

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "status": self.status}}


def not_found(what: str) -> ApiError:
    return ApiError(404, f"{what} not found.")


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    raw: bytes = b""
    params: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"{self.method} {self.path} {self.query or ''} {self.body or ''}"


@dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    times: int
    error: ApiError


@dataclass
class Project:
    """What one project holds. Each API module reads and writes its own part."""

    id: str
    number: str
    services: set[str] = field(default_factory=set)
    policy: dict[str, Any] = field(default_factory=lambda: {"version": 1, "bindings": []})
    buckets: dict[str, dict[str, Any]] = field(default_factory=dict)
    topics: dict[str, dict[str, Any]] = field(default_factory=dict)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    functions: dict[str, dict[str, Any]] = field(default_factory=dict)
    triggers: dict[str, dict[str, Any]] = field(default_factory=dict)
    run_policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    images: set[str] = field(default_factory=set)  # Artifact Registry packages, by path
    operations: dict[str, dict[str, Any]] = field(default_factory=dict)


Handler = Callable[["FakeGoogle", Request], Any]


class Router:
    """Path templates: `{name}` is one segment (no `/` or `:`), `{name+}` any rest."""

    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, template: str) -> Callable[[Handler], Handler]:
        regex = ""
        for part in re.split(r"(\{\w+\+?\})", template):
            name = part.strip("{+}")
            if part.endswith("+}"):
                regex += f"(?P<{name}>.+?)"
            elif part.startswith("{"):
                regex += f"(?P<{name}>[^/:]+)"
            else:
                regex += re.escape(part)

        def register(handler: Handler) -> Handler:
            self.routes.append((method, re.compile(f"^{regex}$"), handler))
            return handler

        return register

    def match(self, method: str, path: str) -> tuple[Handler, dict[str, str]] | None:
        for verb, regex, handler in self.routes:
            found = regex.match(path)
            if verb == method and found:
                return handler, found.groupdict()
        return None


def etag_of(counter: itertools.count) -> str:
    import base64

    return base64.b64encode(f"etag-{next(counter)}".encode()).decode()


class FakeGoogle:
    """The fake's state and its HTTP server; `with FakeGoogle(routers) as fake: fake.url`."""

    def __init__(self, routers: list[Router]):
        self.routers = routers
        self.projects: dict[str, Project] = {}
        self.requests: list[Request] = []
        self.faults: list[Fault] = []
        self.uploads: dict[str, bytes] = {}
        self.lock = threading.RLock()
        self.ids = itertools.count(1)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeGoogle:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def project(self, project: str) -> Project:
        """A project by id or number; one is made, empty, on first use."""
        for p in self.projects.values():
            if project in (p.id, p.number):
                return p
        number = str(100000000000 + len(self.projects) * 7919 + 4711)
        return self.projects.setdefault(project, Project(project, number))

    def new_id(self) -> str:
        return str(next(self.ids))

    def etag(self) -> str:
        return etag_of(self.ids)

    def fail(self, method: str, path_regex: str, code: int, message: str, times: int = 1) -> None:
        """The next `times` requests matching `method` and `path_regex` get this error."""
        with self.lock:
            fault = Fault(method, re.compile(path_regex), times, ApiError(code, message))
            self.faults.append(fault)

    def sent(self, method: str, path_regex: str) -> list[Request]:
        """The recorded requests matching `method` and `path_regex` (searched)."""
        regex = re.compile(path_regex)
        return [r for r in self.requests if r.method == method and regex.search(r.path)]

    def operation(self, project: Project, name: str, response: Any = None,
                  metadata: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
        """A long-running operation that is already done, kept for `operations.get`."""
        op = {"name": name, "done": True, "response": response or {}}
        if metadata is not None:
            op["metadata"] = metadata
        project.operations[name] = op
        return op

    def answer(self, request: Request) -> tuple[int, Any]:
        with self.lock:
            self.requests.append(request)
            for fault in self.faults:
                if fault.method == request.method and fault.pattern.search(request.path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    return fault.error.code, fault.error.body()
            for router in self.routers:
                found = router.match(request.method, request.path)
                if found:
                    handler, request.params = found
                    try:
                        return 200, handler(self, request)
                    except ApiError as e:
                        return e.code, e.body()
            error = ApiError(404, f"the fake does not answer {request.method} {request.path}")
            return 404, error.body()


def _handler_for(fake: FakeGoogle) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            query = dict(parse_qsl(url.query))
            query.pop("alt", None)
            code, answer = fake.answer(Request(self.command, url.path, query, body, raw))
            data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def do_CONNECT(self) -> None:
            """A proxy tunnel (bq's httplib2 always asks for one): it leads back here, so
            the plain-HTTP requests that follow are served on this connection. TLS to a real
            Google host through it fails at once: nothing leaves the machine."""
            self.send_response(200, "Connection established")
            self.end_headers()
            self.close_connection = False

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
