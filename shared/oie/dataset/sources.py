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


# The course copies. classes.csv and relations.csv are byte-identical to the assets folder's;
# the assets' image-labels.csv is a sample, so the full course file has no pinned sum here.
COURSE_FILES: tuple[Asset, ...] = (
    Asset("classes", "classes.csv",
          "316b4216fb5bf8b787f12c66ab97aa336954d258db7438e31f0ca0f2bb3e3c55"),
    Asset("image_labels", "image-labels.csv", None),
    Asset("relations", "relations.csv",
          "4064c33e103adee90c8084bcaaf6b23a5e29c400bfab0e01e020cef92e4d2a22"),
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
) -> dict[str, Path]:
    """The course CSVs by table: from `assets/openimages/` when set, else downloaded."""
    if assets is not None:
        folder = assets / "openimages"
        missing = [a.name for a in COURSE_FILES if not (folder / a.name).is_file()]
        if missing:
            raise DownloadFailed(f"OIE_ASSETS={assets}: {folder} lacks {', '.join(missing)}")
        return {a.table: folder / a.name for a in COURSE_FILES}
    base = base_url if base_url.endswith("/") else base_url + "/"
    return {
        a.table: download(
            base + a.name, cache_dir / a.name, a.sha256, progress(a.name) if progress else None
        )
        for a in COURSE_FILES
    }
