"""Hostile uploads against a real `oie serve` (gunicorn and functions-framework, as deployed):
what a client sees is a 413 or a per-file answer with the reason, never a 500 or a reset."""

from __future__ import annotations

import http.client
import io
import json
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from oie.classify.images import ALLOWED_FORMATS
from oie.web.uploads import MAX_FIELD_BYTES, MAX_FILES, MAX_FORM_PARTS, MAX_REQUEST_BYTES
from tests.support.servers import free_port, running

OIE = Path(sys.executable).parent / "oie"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, demo_db: Path) -> Iterator[int]:
    """`oie serve` on the demo warehouse, without the watcher; yields its port."""
    import shutil

    from tests.conftest import assets_dir

    tmp = tmp_path_factory.mktemp("hostile-uploads")
    shutil.copy(demo_db, tmp / "warehouse.duckdb")
    env = {"OIE_WAREHOUSE": "duckdb", "OIE_DUCKDB_PATH": str(tmp / "warehouse.duckdb"),
           "OIE_DATA_DIR": str(tmp / "data"), "OIE_ASSETS": str(assets_dir())}  # fmt: skip
    port = free_port()
    cmd = [str(OIE), "serve", "--port", str(port), "--no-watch", "--threads", "4"]
    with running(cmd, f"http://127.0.0.1:{port}/", env=env):
        yield port


def part(name: str, value: bytes, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    return f"Content-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n"


def multipart(parts: list[bytes]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = b"".join(f"--{boundary}\r\n".encode() + p for p in parts)
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def post(port: int, parts: list[bytes], chunked: bool = False, pad: int = 0) -> tuple[int, dict]:
    """POST to image_classify; `chunked` sends without Content-Length, `pad` bytes of filler
    file first (streamed, never held whole)."""
    body, ctype = multipart(parts)
    head = b""
    if pad:
        boundary = ctype.split("=", 1)[1]
        head = f"--{boundary}\r\n".encode() + (
            b'Content-Disposition: form-data; name="files"; filename="pad.png"\r\n\r\n'
        )

    def chunks() -> Iterator[bytes]:
        if pad:
            yield head
            block = b"\0" * (1 << 20)
            for _ in range(pad // len(block)):
                yield block
            yield b"\r\n"
        yield body

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Content-Type": ctype, "Accept": "application/json"}
    if chunked:
        conn.request("POST", "/image_classify", body=chunks(), headers=headers,
                     encode_chunked=True)  # fmt: skip
    else:
        data = b"".join(chunks())
        conn.request("POST", "/image_classify", body=data, headers=headers)
    response = conn.getresponse()
    answer = json.loads(response.read() or b"{}")
    conn.close()
    return response.status, answer


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def eps() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(out, "EPS")
    return out.getvalue()


def test_a_chunked_body_over_the_limit_is_a_413(server: int) -> None:
    size = MAX_REQUEST_BYTES + 6 * 2**20  # over the limit, no Content-Length
    status, answer = post(server, [part("min_confidence", b"0.3")], chunked=True, pad=size)
    assert status == 413
    assert f"larger than {MAX_REQUEST_BYTES:,} bytes" in answer["error"]
    # the server is still there and answers the next request on a fresh connection
    status, answer = post(server, [part("files", png(Image.new("RGB", (64, 64))), "ok.png")])
    assert status == 200 and answer["files"][0]["ok"]


def test_a_chunked_body_under_the_limit_is_classified(server: int, assets: Path) -> None:
    owl = (assets / "images" / "owl.jpg").read_bytes()
    status, answer = post(server, [part("files", owl, "owl.jpg")], chunked=True)
    assert status == 200
    assert answer["files"][0]["ok"] and answer["files"][0]["predictions"]


def test_a_declared_length_over_the_limit_is_a_413(server: int) -> None:
    size = MAX_REQUEST_BYTES + 2**20
    status, answer = post(server, [part("top_k", b"3")], pad=size)
    assert status == 413
    assert f"larger than {MAX_REQUEST_BYTES:,} bytes" in answer["error"]


def test_too_many_parts_is_a_413(server: int) -> None:
    parts = [part("x", b"1") for _ in range(1001)]
    status, answer = post(server, parts)
    assert status == 413
    assert f"more than {MAX_FORM_PARTS} parts" in answer["error"]
    assert f"at most {MAX_FILES} files" in answer["error"]


def test_a_long_text_field_is_a_413(server: int) -> None:
    status, answer = post(server, [part("min_confidence", b"1" * 600_000)])
    assert status == 413
    assert f"a text field over {MAX_FIELD_BYTES:,} bytes" in answer["error"]


def test_every_part_under_files_is_answered(server: int, assets: Path) -> None:
    owl = (assets / "images" / "owl.jpg").read_bytes()
    parts = [part("files", owl, ""), part("files", b"", "empty.jpg"), part("files", owl, "owl.jpg"),
             part("files", b"just text"), part("files", b"", "")]  # fmt: skip
    status, answer = post(server, parts)
    assert status == 200
    files = answer["files"]
    # the last part is what a browser sends when no file was chosen: not a file at all
    assert [f["name"] for f in files] == ["(no name)", "empty.jpg", "owl.jpg", "(text field)"]
    assert files[0]["ok"] and files[2]["ok"]
    assert not files[1]["ok"] and files[1]["error"] == "empty file"
    assert not files[3]["ok"] and "not a file" in files[3]["error"]


def test_a_form_sent_with_no_file_chosen_is_a_400(server: int) -> None:
    status, answer = post(server, [part("files", b"", ""), part("min_confidence", b"0.5")])
    assert status == 400 and answer["param"] == "files"
    assert "send one or more images" in answer["error"]


def test_formats_outside_the_allow_list_are_refused_by_name(server: int) -> None:
    psd = b"8BPS\x00\x01" + b"\x00" * 200
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'
    parts = [part("files", eps(), "a.eps"), part("files", psd, "b.psd"),
             part("files", svg, "c.svg")]  # fmt: skip
    status, answer = post(server, parts)
    assert status == 200
    for f, fmt in zip(answer["files"], ("EPS", "PSD", "SVG"), strict=True):
        assert not f["ok"]
        assert f"does not accept {fmt} images" in f["error"]
        assert ", ".join(ALLOWED_FORMATS) in f["error"]


def test_bombs_and_heavy_images(server: int) -> None:
    bomb = png(Image.new("1", (12000, 12000)))  # ~100 KB claiming 144 MP
    heavy = png(Image.new("P", (8100, 6050)))  # 49 MP: over the 40 MP limit
    deep = io.BytesIO()
    Image.linear_gradient("L").resize((256, 256)).convert("I").point(lambda v: v * 65536).save(
        deep, "TIFF", compression="tiff_deflate"
    )
    parts = [part("files", bomb, "bomb.png"), part("files", heavy, "heavy.png"),
             part("files", deep.getvalue(), "deep.tif")]  # fmt: skip
    status, answer = post(server, parts)
    assert status == 200, answer
    bomb_answer, heavy_answer, deep_answer = answer["files"]
    assert "12000x12000 = 144,000,000 pixels; the limit is 40,000,000" in bomb_answer["error"]
    assert "8100x6050 = 49,005,000 pixels" in heavy_answer["error"]
    assert deep_answer["ok"], deep_answer
