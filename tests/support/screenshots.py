"""README's screenshots: the demo stack in Debian's chromium, desktop and 400 px wide.

Serves the demo data (imported into a fresh folder) with the assets' photos, picks the
class whose first page shows the most of them, and writes PNGs to docs/screenshots/.

    .venv/bin/python tests/support/screenshots.py   # or: make screenshots
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from urllib.parse import quote

from PIL import Image

from oie.links import link_photos

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.support.servers import free_port, running

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "screenshots"
OIE = Path(sys.executable).parent / "oie"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 400, "height": 860}


def get_json(base: str, path: str) -> dict:
    sep = "&" if "?" in path else "?"
    with urllib.request.urlopen(f"{base}{path}{sep}format=json", timeout=30) as response:
        found: dict = json.load(response)
    return found


def best_class(base: str, photo_ids: list[str]) -> str:
    """The class whose first page shows the most local photos (then the most images)."""
    seen: dict[str, tuple[int, int]] = {}
    for image_id in photo_ids:
        for c in get_json(base, f"/image_info?image_id={image_id}").get("classes", []):
            name = c["description"]
            if name in seen:
                continue
            page = get_json(base, f"/image_search?description={quote(name)}&image_limit=12")
            local = sum("/photos/" in im["url"] for im in page["images"])
            seen[name] = (local, c["num_images"])
    return max(seen, key=lambda name: seen[name])


def main() -> int:
    assets = Path(os.environ.get("OIE_ASSETS") or ROOT.parent / "shared" / "assets")
    if not Path(CHROMIUM).exists():
        print("no chromium: apt-get install chromium", file=sys.stderr)
        return 1
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="oie-shots-") as tmp:
        photos = Path(tmp) / "photos"
        link_photos(assets / "openimages" / "photo-ids.csv", assets / "images", photos)
        env = {**os.environ, "OIE_ASSETS": str(assets), "OIE_DATA_DIR": str(Path(tmp) / "data"),
               "OIE_PHOTOS": str(photos), "OIE_BASE_URL": ""}  # fmt: skip
        subprocess.run([str(OIE), "import", "--demo"], env=env, check=True, cwd=ROOT)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with running([str(OIE), "serve", "--port", str(port)], base + "/", env=env):
            ids = sorted(p.stem for p in photos.iterdir())
            name = best_class(base, ids)
            with_photo = next(i for i in ids if get_json(base, f"/image_info?image_id={i}")
                              .get("classes"))  # fmt: skip
            shots = [
                ("start", "/", DESKTOP, "light"),
                ("image_search", f"/image_search?description={quote(name)}&image_limit=12",
                 DESKTOP, "light"),
                ("class_info", "/class_info?description=Animal", DESKTOP, "light"),
                ("image_info", f"/image_info?image_id={with_photo}", DESKTOP, "light"),
                ("image_search-400px", f"/image_search?description={quote(name)}", PHONE,
                 "light"),
                ("image_search-400px-dark", f"/image_search?description={quote(name)}", PHONE,
                 "dark"),
            ]  # fmt: skip
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
                )
                for shot, path, viewport, scheme in shots:
                    context = browser.new_context(viewport=viewport, color_scheme=scheme)
                    # remote photos are out of reach offline: their cards show the placeholder
                    context.route("https://**", lambda route: route.abort())
                    page = context.new_page()
                    page.goto(base + path, wait_until="networkidle")
                    target = OUT / f"{shot}.png"
                    page.screenshot(path=str(target))
                    context.close()
                    Image.open(target).save(target, optimize=True)
                    print(f"{target.relative_to(ROOT)}: {base}{path} at {viewport['width']} px")
                browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
