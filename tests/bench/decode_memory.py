"""Peak memory of decoding one image: `decode()` to the model's input and `thumbnail()`.

Each case runs in a fresh interpreter (`--one`): the oie modules are imported and the file
read first, then the peak RSS (VmHWM) after the call is compared with the RSS before it.
Prints a Markdown table; `PYTHONPATH` decides which tree's oie is measured.

    PYTHONPATH=$PWD/shared .venv/bin/python tests/bench/decode_memory.py
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

CASES = [  # (kind, megapixels)
    ("png-rgb", 12), ("png-rgb", 24), ("png-rgb", 40), ("png-rgb", 49),
    ("png-rgba", 24), ("png-rgba", 40), ("png-palette", 40), ("png-i16", 24), ("tiff-i32", 24),
    ("jpeg", 12), ("jpeg", 40), ("jpeg-progressive", 12), ("jpeg-progressive", 40),
    ("png-bomb-1bit", 144),
]  # fmt: skip


def make(kind: str, megapixels: int, path: Path) -> Path:
    """A compressible image (a gradient: a legal file stays under the byte limit)."""
    width = int((megapixels * 1e6 * 4 / 3) ** 0.5)
    height = int(megapixels * 1e6 / width)
    if kind == "png-bomb-1bit":
        side = int((megapixels * 1e6) ** 0.5)
        Image.new("1", (side, side)).save(path.with_suffix(".png"))
        return path.with_suffix(".png")
    ramp = Image.linear_gradient("L").resize((width, height))
    flip = ramp.transpose(Image.Transpose.ROTATE_90).resize((width, height))
    rgb = Image.merge("RGB", (ramp, flip, ramp.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    if kind == "png-rgb":
        rgb.save(out := path.with_suffix(".png"))
    elif kind == "png-rgba":
        rgb.putalpha(ramp)
        rgb.save(out := path.with_suffix(".png"))
    elif kind == "png-palette":
        rgb.quantize(64).save(out := path.with_suffix(".png"))
    elif kind == "png-i16":
        ramp.convert("I").point(lambda v: v * 256).convert("I;16").save(
            out := path.with_suffix(".png")
        )
    elif kind == "tiff-i32":
        ramp.convert("I").point(lambda v: v * 65536).save(
            out := path.with_suffix(".tif"), compression="tiff_deflate"
        )
    else:
        rgb.save(out := path.with_suffix(".jpg"), "JPEG", quality=85,
                 progressive=kind == "jpeg-progressive")  # fmt: skip
    return out


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def one(path: str, call: str) -> dict[str, object]:
    from oie.classify import images
    from oie.web.uploads import thumbnail

    limits = images.Limits(max_pixels=60_000_000)  # measured beyond the limit as well
    data = Path(path).read_bytes()
    before = _status("VmRSS")
    start = time.perf_counter()
    try:
        if call == "decode":
            images.decode(data, (224, 224), limits)
        else:
            assert thumbnail(data) is not None
        outcome = "ok"
    except images.RejectedImage as exc:
        outcome = f"rejected: {str(exc)[:40]}"
    except AssertionError:
        outcome = "no thumbnail"
    return {"peak_mb": (_status("VmHWM") - before) / 2**20, "outcome": outcome,
            "s": time.perf_counter() - start}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--one", nargs=2, metavar=("PATH", "CALL"))
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(*args.one)))
        return
    print("| image | MP | file MB | call | peak above baseline MB | B/px | s | outcome |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for kind, mp in CASES:
            path = make(kind, mp, Path(tmp) / f"{kind}-{mp}")
            for call in ("decode", "thumbnail"):
                out = subprocess.run([sys.executable, __file__, "--one", str(path), call],
                                     capture_output=True, text=True, check=True)  # fmt: skip
                r = json.loads(out.stdout.strip().splitlines()[-1])
                per_px = r["peak_mb"] * 2**20 / (mp * 1e6)
                file_mb = path.stat().st_size / 2**20
                print(f"| {kind} | {mp} | {file_mb:.1f} | {call} | {r['peak_mb']:.0f} | "
                      f"{per_px:.1f} | {r['s']:.2f} | {r['outcome']} |")  # fmt: skip
            path.unlink()


if __name__ == "__main__":
    main()
