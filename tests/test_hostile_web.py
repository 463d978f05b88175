"""Hostile requests to the pages, on the real stack (`oie serve`): every bad input is a 4xx
that says why, the error path itself never fails, and nothing private is echoed or cached."""

from __future__ import annotations

import http.client
import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import Client

from oie import manifest
from oie.app import App
from oie.settings import Settings
from oie.web.render import View, respond
from tests.conftest import assets_dir
from tests.support.servers import free_port, running

OIE = Path(sys.executable).parent / "oie"
ROOT = Path(__file__).resolve().parents[1]
IMAGE_ID = "0001eeaf4aed83f9"  # in the course data


@pytest.fixture(scope="module")
def server(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("hostile-web")
    shutil.copy(demo_db, home / "warehouse.duckdb")
    env = {"OIE_WAREHOUSE": "duckdb", "OIE_DUCKDB_PATH": str(home / "warehouse.duckdb"),
           "OIE_DATA_DIR": str(home / "data"), "OIE_ASSETS": str(assets_dir())}  # fmt: skip
    port = free_port()
    with running([str(OIE), "serve", "--port", str(port), "--no-watch"], f"http://127.0.0.1:{port}/",
                 env=env):  # fmt: skip
        yield f"127.0.0.1:{port}"


def raw_get(server: str, target: bytes, headers: dict[str, str] | None = None,
            method: str = "GET") -> tuple[int, dict[str, str], str]:  # fmt: skip
    """A request whose target is sent byte for byte (http.client would refuse some)."""
    host, port = server.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    lines = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: " + server.encode(),
             b"Accept: application/json", b"Connection: close"]  # fmt: skip
    lines += [f"{k}: {v}".encode() for k, v in (headers or {}).items()]
    conn.connect()
    assert conn.sock is not None
    conn.sock.sendall(b"\r\n".join(lines) + b"\r\n\r\n")
    response = http.client.HTTPResponse(conn.sock, method=method)
    response.begin()
    body = response.read().decode("utf-8", "replace")
    conn.close()
    return response.status, dict(response.getheaders()), body


def get_json(server: str, path: str, **kwargs: Any) -> tuple[int, dict[str, str], dict[str, Any]]:
    status, headers, body = raw_get(server, path.encode(), **kwargs)
    return status, headers, json.loads(body)


@pytest.mark.parametrize(
    "path, param",
    [
        ("/image_search_multiple?descriptions=Man,Woman&after=%C2%B2-" + IMAGE_ID, "after"),
        ("/image_search_multiple?descriptions=Man&after=" + "9" * 5000 + "-" + IMAGE_ID, "after"),
        ("/image_search_multiple?descriptions=Man,Woman&before=0-" + IMAGE_ID, "before"),
        ("/image_search_multiple?descriptions=Man,Woman&after=1-" + IMAGE_ID + "%00", "after"),
        ("/image_search?description=Man&after=" + IMAGE_ID[:15] + "%EF%BC%91", "after"),
        ("/image_search?description=Man&image_limit=1_0", "image_limit"),
        ("/image_search?description=Man&image_limit=%D9%A3", "image_limit"),
        ("/image_search?description=Man&image_limit=%EF%BC%91", "image_limit"),  # a full-width 1
        ("/results?min_score=1_0", "min_score"),
        ("/results?min_score=%D9%A3", "min_score"),
        ("/classes?offset=0x10", "offset"),
        ("/classes?offset=1e3", "offset"),
    ],
)
def test_forged_and_odd_numbers_are_400s(server: str, path: str, param: str) -> None:
    status, _, answer = get_json(server, path)
    assert status == 400, answer
    assert answer["param"] == param and answer["ok"] is False
    assert len(answer["error"]) < 300  # a 5,000-digit token is not quoted back whole


@pytest.mark.parametrize(
    "query",
    [
        "description=\xff",
        "description=Man&image_limit=\xff",
        "descriptions=\xff\xfe&after=\xff",
        "class1=\xc3",
        "key=\xff&since=\xff",
    ],
)
def test_raw_bytes_in_the_query_string_are_answered(client: Client, query: str) -> None:
    """gunicorn refuses such a request line itself (checked below); a server in front of the
    function that passes the bytes on (WSGI carries them as latin-1) gets a 4xx too."""
    for name in ("image_search", "image_search_multiple", "relation_search", "results"):
        for accept in ("application/json", "text/html"):
            response = client.get(f"/{name}", headers={"Accept": accept},
                                  environ_overrides={"QUERY_STRING": query})  # fmt: skip
            body = response.get_data(as_text=True)
            assert response.status_code in (200, 400), (name, body)
            assert response.mimetype == accept
            if accept == "application/json":
                assert response.get_json()["ok"] is (response.status_code == 200)


def test_an_html_page_links_to_its_json(client: Client) -> None:
    page = client.get("/classes?format=html&offset=2").get_data(as_text=True)
    assert 'href="?offset=2&amp;format=json">JSON' in page


def test_gunicorn_refuses_raw_bytes_in_the_request_line(server: str) -> None:
    status, _, body = raw_get(server, b"/image_search?description=\xff")
    assert status == 400 and "Traceback" not in body


def http_functions() -> list[str]:
    return [f.name for f in manifest.load(ROOT / "functions") if f.kind == "http"]


@pytest.mark.parametrize("method", ["DELETE", "PUT", "PATCH", "PROPFIND"])
def test_every_405_says_what_is_allowed(server: str, method: str) -> None:
    for name in [*http_functions(), "classify_tflite"]:
        status, headers, body = raw_get(server, f"/{name}".encode(), method=method)
        assert status == 405, (name, body)
        assert "GET" in headers.get("Allow", "") or "POST" in headers.get("Allow", ""), name
        assert json.loads(body)["ok"] is False


def test_results_are_never_cached_publicly(server: str) -> None:
    status, headers, _ = get_json(server, "/results")
    assert status == 200 and headers["Cache-Control"] == "private, no-store"
    status, headers, _ = get_json(server, "/classes")
    assert status == 200 and headers["Cache-Control"].startswith("public")


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "application/json", "Content-Length": "7"},
        {"Content-Type": "application/cloudevents+json", "Content-Length": "7"},
    ],
)
def test_the_classifier_s_400_echoes_no_credentials(server: str, headers: dict[str, str]) -> None:
    secret = {"Authorization": "Bearer ya29.SECRET-TOKEN", "Cookie": "session=SECRET-COOKIE"}
    host, port = server.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("POST", "/classify_tflite", body=b'{"x":1}', headers={**headers, **secret})
    response = conn.getresponse()
    body = response.read().decode()
    assert response.status == 400
    assert "SECRET" not in body and "not a CloudEvent" in json.loads(body)["error"]


def test_a_page_that_fails_to_render_is_a_logged_500(
    demo_env: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    import flask

    app = App(Settings.from_env({"OIE_DUCKDB_PATH": str(demo_env)}))
    with flask.Flask("t").test_request_context("/classes", headers={"Accept": "text/html"}):
        broken = View("no-such-template.html", "Broken", {"x": 1})
        response = respond(flask.request, app, lambda: broken)
    body = response.get_data(as_text=True)
    assert response.status_code == 500 and "Traceback" not in body
    assert "logged as error" in body and response.mimetype == "text/html"
    logged = [json.loads(line) for line in capfd.readouterr().err.splitlines() if line]
    assert [r["severity"] for r in logged] == ["ERROR"]
    assert "no-such-template.html" in logged[0]["exc_info"]


def test_log_lines_from_many_threads_never_interleave(tmp_path: Path) -> None:
    script = (
        "import threading\n"
        "from oie.logs import log\n"
        "def work(n):\n"
        "    for i in range(400):\n"
        "        log('INFO', 'x' * 3000, worker=n, i=i)\n"
        "threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]\n"
        "[t.start() for t in threads]; [t.join() for t in threads]\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=True)  # fmt: skip
    records = [json.loads(line) for line in done.stderr.splitlines()]
    assert len(records) == 8 * 400
    sent = {(n, i) for n in range(8) for i in range(400)}
    assert {(r["worker"], r["i"]) for r in records} == sent
    assert all(r["severity"] == "INFO" and len(r["message"]) == 3000 for r in records)


def test_concurrent_first_calls_make_each_client_once(demo_env: Path) -> None:
    env = {"OIE_DUCKDB_PATH": str(demo_env), "OIE_ASSETS": str(assets_dir())}
    app = App(Settings.from_env(env))
    barrier = threading.Barrier(8, timeout=30)
    got: list[tuple[object, ...]] = []

    def first_use() -> None:
        barrier.wait()
        got.append((app.runner("tflite"), app.explorer, app.warehouse, app.classifier))

    threads = [threading.Thread(target=first_use) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 8
    for position in range(4):
        assert len({id(row[position]) for row in got}) == 1
    app.close()


def test_the_local_home_is_private(tmp_path: Path, demo_db: Path) -> None:
    home = tmp_path / "data"
    home.mkdir(mode=0o755)
    home.chmod(0o755)  # as an older version left it
    shutil.copy(demo_db, home / "warehouse.duckdb")
    app = App(Settings.from_env({"OIE_DATA_DIR": str(home)}))
    assert app.explorer.catalog.classes  # the warehouse opened
    stored = app.blobstore.put(
        "uploads/x.jpg", b"\xff\xd8 private", metadata={"originalName": "me.jpg"}
    )
    app.close()
    assert stored.name == "uploads/x.jpg"
    for folder in (home, home / "bucket", home / "bucket-meta"):
        assert folder.stat().st_mode & 0o777 == 0o700, folder
    # the DuckDB file and the uploaded bytes and metadata all lie inside them
    assert (home / "bucket" / "uploads" / "x.jpg").read_bytes() == b"\xff\xd8 private"


def test_slow_clients_do_not_hold_up_the_others(server: str) -> None:
    """Sixteen connections that send their headers a byte at a time, or nothing at all, take
    sixteen of the server's threads, not all of them."""
    import socket
    import time

    host, port = server.split(":")
    slow = [socket.create_connection((host, int(port))) for _ in range(16)]
    try:
        for n, sock in enumerate(slow):
            if n % 2:
                sock.sendall(b"G")  # starts a request line and never finishes it
        started = time.monotonic()
        status, _, _ = get_json(server, "/classes")
        assert status == 200 and time.monotonic() - started < 2.0
    finally:
        for sock in slow:
            sock.close()
