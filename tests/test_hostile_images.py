"""The one image-opening path: bombs, the format allow-list, deep (16/32-bit, float) images,
the decode budget, and Pillow's own guard left as it is."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PIL import EpsImagePlugin, Image

from oie.classify.images import (
    ALLOWED_FORMATS,
    MAX_PIXELS,
    DecodeBudget,
    RejectedImage,
    decode,
    extension,
    sniff,
    thumbnail,
)

ROOT = Path(__file__).resolve().parents[1]


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def tiff(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "TIFF", compression="tiff_deflate")
    return out.getvalue()


def in_fresh_python(code: str, *args: str) -> dict:
    """Run `code` (which prints one JSON line) in a new interpreter with this tree's oie."""
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                         check=True, cwd=ROOT)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_pillow_bomb_guard_is_left_as_pillow_sets_it() -> None:
    seen = in_fresh_python(
        "import json; from PIL import Image; default = Image.MAX_IMAGE_PIXELS\n"
        "import oie.classify.images, oie.web.uploads, oie.classify.vision, oie.web.results\n"
        "print(json.dumps([default, Image.MAX_IMAGE_PIXELS]))"
    )
    assert seen[0] == seen[1] and seen[0] > MAX_PIXELS


MEASURE = """
import json, sys, time
from pathlib import Path
from oie.classify.images import thumbnail, decode, RejectedImage
def status(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
bomb = Path(sys.argv[1]).read_bytes()
before = status("VmRSS"); start = time.perf_counter()
thumb = thumbnail(bomb)
try:
    decode(bomb, (224, 224)); decoded = True
except RejectedImage:
    decoded = False
print(json.dumps({"bytes": len(bomb), "thumb": thumb, "decoded": decoded,
                  "s": time.perf_counter() - start, "rise": status("VmHWM") - before}))
"""


def test_a_bomb_is_refused_fast_without_memory(tmp_path: Path) -> None:
    (path := tmp_path / "bomb.png").write_bytes(png(Image.new("1", (12000, 12000))))
    seen = in_fresh_python(MEASURE, str(path))
    assert seen["bytes"] < 200_000  # small on disk, 144 MP when decoded
    assert seen["thumb"] is None and not seen["decoded"]
    assert seen["s"] < 1.0
    assert seen["rise"] < 20 * 2**20


def test_a_legal_large_png_thumbnail_holds_one_copy(tmp_path: Path) -> None:
    large = Image.linear_gradient("L").resize((6000, 4000)).convert("RGB")
    (path := tmp_path / "large.png").write_bytes(png(large))
    seen = in_fresh_python(MEASURE, str(path))
    assert seen["thumb"].startswith("data:image/jpeg;base64,") and seen["decoded"]
    # 24 MP: one 4-byte pixel buffer and small copies; it was three full copies (12 B/px)
    assert seen["rise"] < 6 * 24_000_000


def test_bombs_by_header_whatever_the_format() -> None:
    for fmt in ("PNG", "GIF", "TIFF"):
        out = io.BytesIO()
        Image.new("L" if fmt != "GIF" else "P", (9000, 5000)).save(out, fmt, compression="tiff_lzw")
        with pytest.raises(RejectedImage, match="9000x5000 = 45,000,000 pixels; the limit is"):
            sniff(out.getvalue())
        assert thumbnail(out.getvalue()) is None


def test_formats_outside_the_allow_list_are_never_opened(monkeypatch: pytest.MonkeyPatch) -> None:
    def opened(self: object) -> None:
        raise AssertionError("the EPS plugin was asked to open the file")

    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "_open", opened)
    data = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 64\n" + b"0 0 moveto\n" * 10
    for call in (sniff, lambda d: decode(d, (224, 224))):
        with pytest.raises(RejectedImage) as refused:
            call(data)
        assert "does not accept EPS images" in str(refused.value)
        assert ", ".join(ALLOWED_FORMATS) in str(refused.value)
    assert thumbnail(data) is None and extension(data) == "bin"


@pytest.mark.parametrize(
    ("mode", "scale", "make"),
    [("I", 65536, tiff), ("I", 1, tiff), ("I;16", 256, png), ("F", 1 / 255, tiff)],
)
def test_deep_images_keep_their_content(mode: str, scale: float, make) -> None:  # type: ignore[no-untyped-def]
    ramp = Image.linear_gradient("L").resize((256, 256))  # 0..255 top to bottom
    deep = ramp.convert("I").point(lambda v: v * scale) if scale >= 1 else ramp.convert("F")
    if mode == "F":
        deep = deep.point(lambda v: v * scale)
    elif mode == "I;16":
        deep = deep.convert("I;16")
    data = make(deep)
    assert Image.open(io.BytesIO(data)).mode in (mode, "I;16B", "I;16")
    out = decode(data, (224, 224)).convert("L")
    top, bottom = out.crop((0, 0, 224, 20)), out.crop((0, 204, 224, 224))
    assert top.getextrema()[1] < 30  # dark stays dark
    assert bottom.getextrema()[0] > 200  # and bright stays bright: not all black


def test_the_decode_budget_makes_big_decodes_wait() -> None:
    budget = DecodeBudget(100)
    order: list[str] = []
    first_in = threading.Event()

    def big() -> None:
        with budget.hold(80):
            first_in.set()
            time.sleep(0.2)
            order.append("big done")

    def other() -> None:
        first_in.wait()
        with budget.hold(50):  # 80 + 50 > 100: waits for the first
            order.append("other in")

    threads = [threading.Thread(target=big), threading.Thread(target=other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert order == ["big done", "other in"]
    assert budget.in_use == 0
    with budget.hold(10), budget.hold(10):  # small ones share it
        assert budget.in_use == 20
    with budget.hold(10**9):  # more than all of it runs, alone
        assert budget.in_use == 100
