"""Links between the functions (under OIE_BASE_URL when set) and to the Open Images photos.

A photo is shown from OIE_PHOTOS, a folder of `<ImageId>.<ext>` files the local host serves
at `/photos/`, when it holds one for the image, else from OIE_IMAGE_URL_TEMPLATE. The folder
is listed once per process: a photo added later is shown after a restart.
"""

from __future__ import annotations

import csv
import functools
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from .keys import IMAGE_ID
from .logs import log
from .settings import Settings, load

PHOTOS_PATH = "/photos/"
PHOTO_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png",
               ".gif": "image/gif", ".webp": "image/webp", ".bmp": "image/bmp",
               ".avif": "image/avif"}  # fmt: skip


@functools.lru_cache(maxsize=8)
def photo_index(folder: Path) -> Mapping[str, str]:
    """ImageId to file name for the photos in `folder`, listed once; {} without the folder."""
    try:
        names = sorted(os.listdir(folder))
    except OSError as exc:
        log("WARNING", "OIE_PHOTOS cannot be listed; photos come from the URL template",
            folder=str(folder), error=f"{type(exc).__name__}: {exc}")  # fmt: skip
        return {}
    out: dict[str, str] = {}
    for name in names:
        stem, ext = os.path.splitext(name)
        if ext.lower() in PHOTO_TYPES and IMAGE_ID.fullmatch(stem):
            out.setdefault(stem.lower(), name)
    return out


_PLAIN = re.compile(r"[A-Za-z0-9_.~ -]*")  # what urlencode leaves as it is, but ' ' as '+'


def _query(params: Mapping[str, Any]) -> str:
    """urlencode's answer; for plain names and numbers (a page builds dozens of links)
    without its per-character quoting."""
    text = {k: v if isinstance(v, str) else str(v) for k, v in params.items()
            if isinstance(v, str | int) and not isinstance(v, bool)}  # fmt: skip
    if len(text) == len(params) and all(_PLAIN.fullmatch(k + v) for k, v in text.items()):
        return "&".join(f"{k}={v.replace(' ', '+')}" for k, v in text.items())
    return urlencode(params)


@dataclass(frozen=True)
class Links:
    base_url: str = ""  # "" = the same host
    image_template: str = ""  # a URL with {image_id}
    photos: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, s: Settings) -> Links:
        return cls(s.base_url, s.image_url_template, photo_index(s.photos) if s.photos else {})

    def url(self, name: str, **params: Any) -> str:
        """A link to another function: `/NAME?...`; empty and None values are left out."""
        query = _query({k: v for k, v in params.items() if v is not None and v != ""})
        path = "/" if name == "index" else f"/{name}"
        return self.base_url + path + (f"?{query}" if query else "")

    def image(self, image_id: str) -> str:
        """The photo at its public origin (what a classifier fetches)."""
        return self.image_template.replace("{image_id}", image_id)

    def photo(self, image_id: str) -> str:
        """The photo a page shows: the local copy when there is one, else the public one."""
        name = self.photos.get(image_id)
        return self.base_url + PHOTOS_PATH + quote(name) if name else self.image(image_id)


def link_photos(mapping: Path, images: Path, dest: Path) -> int:
    """Symbolic links `dest/<ImageId>.<ext>` to the photos of `images` that `mapping` (a CSV
    with columns File and ImageID, as the assets' photo-ids.csv) names; the first file
    found for an id wins. Returns how many photos `dest` then offers."""
    dest.mkdir(parents=True, exist_ok=True)
    with mapping.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            source, image_id = images / row["File"], row["ImageID"].strip().lower()
            ext = source.suffix.lower()
            if not (IMAGE_ID.fullmatch(image_id) and ext in PHOTO_TYPES and source.is_file()):
                continue
            if not any((dest / f"{image_id}{e}").exists() for e in PHOTO_TYPES):
                (dest / f"{image_id}{ext}").symlink_to(source.resolve())
    photo_index.cache_clear()
    return len(photo_index(dest))


if __name__ == "__main__":  # python -m oie.links photos DEST: the demo's offline photos
    if len(sys.argv) != 3 or sys.argv[1] != "photos":
        sys.exit("usage: python -m oie.links photos DEST")
    assets = load().assets
    if assets is None or not (assets / "openimages" / "photo-ids.csv").is_file():
        print("no OIE_ASSETS with openimages/photo-ids.csv: no offline photos")
        sys.exit(0)
    n = link_photos(assets / "openimages" / "photo-ids.csv", assets / "images", Path(sys.argv[2]))
    print(f"{n} offline photos in {sys.argv[2]}")
