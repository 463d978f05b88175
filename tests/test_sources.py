"""Demo data sources: the assets folder, or a download checked against sha256."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from oie.dataset.sources import (
    COURSE_FILES,
    HIERARCHY_FILE,
    DownloadFailed,
    demo_files,
    download,
)
from tests.support.servers import serving_folder


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "served"
    root.mkdir()
    with serving_folder(root) as base:
        yield base, root


def test_download_checks_sha256(http_root: tuple[str, Path], tmp_path: Path) -> None:
    base, root = http_root
    (root / "a.csv").write_bytes(b"Label,Description\n/m/01yrx,Cat\n")
    good = hashlib.sha256((root / "a.csv").read_bytes()).hexdigest()
    got = download(base + "a.csv", tmp_path / "dl" / "a.csv", good)
    assert got.read_bytes() == (root / "a.csv").read_bytes()
    with pytest.raises(DownloadFailed, match="sha256 is"):
        download(base + "a.csv", tmp_path / "dl" / "b.csv", "0" * 64)
    assert not (tmp_path / "dl" / "b.csv").exists()
    assert [p.name for p in (tmp_path / "dl").iterdir()] == ["a.csv"]  # no partial files


def test_download_reports_http_errors(http_root: tuple[str, Path], tmp_path: Path) -> None:
    base, _root = http_root
    with pytest.raises(DownloadFailed, match="404"):
        download(base + "missing.csv", tmp_path / "x.csv", None)
    assert not (tmp_path / "x.csv").exists()


def test_demo_files_download_the_course_set(
    http_root: tuple[str, Path], tmp_path: Path, assets: Path
) -> None:
    base, root = http_root
    for asset in (*COURSE_FILES, HIERARCHY_FILE):
        (root / asset.name).write_bytes((assets / "openimages" / asset.name).read_bytes())
    ticks: list[int] = []
    files = demo_files(
        None, tmp_path / "cache", base, progress=lambda name: lambda n, t: ticks.append(n),
        hierarchy_url=base + HIERARCHY_FILE.name,
    )  # fmt: skip
    assert set(files) == {"classes", "image_labels", "relations", "class_hierarchy"}
    assert files["relations"].read_bytes() == (assets / "openimages" / "relations.csv").read_bytes()
    assert sum(ticks) == sum(p.stat().st_size for p in files.values())
    (root / "classes.csv").write_bytes(b"tampered\n")
    (tmp_path / "cache" / "classes.csv").unlink()
    with pytest.raises(DownloadFailed, match=r"classes\.csv: sha256"):
        demo_files(None, tmp_path / "cache", base, hierarchy_url=base + HIERARCHY_FILE.name)


def test_demo_files_prefer_assets(assets: Path, tmp_path: Path) -> None:
    files = demo_files(assets, tmp_path, "http://127.0.0.1:9/unused/")
    assert files["classes"] == assets / "openimages" / "classes.csv"
    with pytest.raises(DownloadFailed, match="lacks"):
        demo_files(tmp_path, tmp_path, "http://127.0.0.1:9/")
