"""Where the demo data comes from: an assets folder, or a download checked against sha256."""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import Unavailable

CHUNK = 1 << 16


@dataclass(frozen=True)
class Asset:
    table: str
    name: str  # file name in the course bucket's data folder and in assets/openimages/
    sha256: str | None  # None: no published checksum; the computed one is reported
    url: str | None = None  # where it is published, when not beside the course files


# The course copies. classes.csv and relations.csv are byte-identical to the assets folder's;
# the assets' image-labels.csv is a sample, so the full course file has no pinned sum here.
COURSE_FILES: tuple[Asset, ...] = (
    Asset("classes", "classes.csv",
          "316b4216fb5bf8b787f12c66ab97aa336954d258db7438e31f0ca0f2bb3e3c55"),
    Asset("image_labels", "image-labels.csv", None),
    Asset("relations", "relations.csv",
          "4064c33e103adee90c8084bcaaf6b23a5e29c400bfab0e01e020cef92e4d2a22"),
)  # fmt: skip
# Open Images' class hierarchy, from where Open Images publishes it (V4 onwards, unchanged).
HIERARCHY_FILE = Asset(
    "class_hierarchy", "bbox_labels_600_hierarchy.json",
    "dbfb4df453228c95d4154772b615ec65a787abd5d451b8d20c4ba08a4041f3a6",
    "https://storage.googleapis.com/openimages/2018_04/bbox_labels_600_hierarchy.json",
)  # fmt: skip


class DownloadFailed(Unavailable):
    """A file could not be fetched, or did not match its checksum; nothing was kept."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def download(
    url: str,
    dest: Path,
    sha256: str | None,
    progress: Callable[[int, int | None], None] | None = None,
    timeout: float = 60.0,
) -> Path:
    """Fetch `url` to `dest` unless a file with the right sum is there already.

    The file appears at `dest` only once complete and checked: an interrupted or corrupt
    download leaves nothing behind.
    """
    if dest.is_file() and (sha256 is None or sha256_of(dest) == sha256):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            while chunk := resp.read(CHUNK):
                out.write(chunk)
                digest.update(chunk)
                if progress:
                    progress(len(chunk), total)
        got = digest.hexdigest()
        if sha256 and got != sha256:
            raise DownloadFailed(f"{url}: sha256 is {got}, expected {sha256}; file discarded")
        tmp.replace(dest)
        return dest
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise DownloadFailed(f"cannot download {url}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)


def demo_files(
    assets: Path | None,
    cache_dir: Path,
    base_url: str,
    progress: Callable[[str], Callable[[int, int | None], None]] | None = None,
    hierarchy_url: str | None = None,
) -> dict[str, Path]:
    """The course CSVs and the class hierarchy by table: from `assets/openimages/` when set,
    else downloaded (the hierarchy from `hierarchy_url`, by default where Open Images
    publishes it)."""
    wanted = (*COURSE_FILES, HIERARCHY_FILE)
    if assets is not None:
        folder = assets / "openimages"
        missing = [a.name for a in wanted if not (folder / a.name).is_file()]
        if missing:
            raise DownloadFailed(f"OIE_ASSETS={assets}: {folder} lacks {', '.join(missing)}")
        return {a.table: folder / a.name for a in wanted}
    base = base_url if base_url.endswith("/") else base_url + "/"

    def url(a: Asset) -> str:
        return (hierarchy_url or a.url or "") if a is HIERARCHY_FILE else base + a.name

    return {
        a.table: download(url(a), cache_dir / a.name, a.sha256, progress and progress(a.name))
        for a in wanted
    }  # fmt: skip


def hierarchy_file(assets: Path | None, cache_dir: Path, url: str | None = None) -> Path:
    """The class hierarchy's JSON alone: from `assets/openimages/`, else downloaded."""
    if assets is not None:
        path = assets / "openimages" / HIERARCHY_FILE.name
        if not path.is_file():
            raise DownloadFailed(f"OIE_ASSETS={assets}: {path.parent} lacks {path.name}")
        return path
    a = HIERARCHY_FILE
    return download(url or a.url or "", cache_dir / a.name, a.sha256)
