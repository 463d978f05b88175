"""The offline photos (OIE_PHOTOS) served by the local host, and its 404 page."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
from werkzeug.test import Client

from oie.links import link_photos, photo_index
from tests.conftest import ROOT, fresh_app


def photo_ids(assets: Path) -> dict[str, Path]:
    """ImageId to the first photo of the assets' mapping that exists: the independent view."""
    out: dict[str, Path] = {}
    with (assets / "openimages" / "photo-ids.csv").open() as fh:
        for row in csv.DictReader(fh):
            path = assets / "images" / row["File"]
            if path.is_file():
                out.setdefault(row["ImageID"], path)
    return out


@pytest.fixture
def photos(assets: Path, demo_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "photos"
    link_photos(assets / "openimages" / "photo-ids.csv", assets / "images", folder)
    (folder / "notes.txt").write_text("not a photo")
    (folder / "0123456789abcdef.txt").write_text("not a photo either")
    monkeypatch.setenv("OIE_PHOTOS", str(folder))
    fresh_app()
    return folder


def test_link_photos_names_each_photo_by_its_image_id(photos: Path, assets: Path) -> None:
    expected = photo_ids(assets)
    index = photo_index(photos)
    assert set(index) == set(expected) and len(index) >= 8
    for image_id, name in index.items():
        assert (photos / name).resolve() == expected[image_id].resolve()
        assert name == image_id + expected[image_id].suffix.lower()


def test_the_demo_step_builds_the_folder(assets: Path, tmp_path: Path) -> None:
    dest = tmp_path / "demo-photos"
    env = {"OIE_ASSETS": str(assets), "PYTHONPATH": str(ROOT / "shared"), "OIE_ENV_FILE": "-"}
    done = subprocess.run([sys.executable, "-m", "oie.links", "photos", str(dest)], env=env,
                          capture_output=True, text=True, check=True)  # fmt: skip
    assert f"{len(photo_ids(assets))} offline photos" in done.stdout
    again = subprocess.run([sys.executable, "-m", "oie.links", "photos", str(dest)], env=env,
                           capture_output=True, text=True, check=True)  # fmt: skip
    assert again.stdout == done.stdout  # a second run changes nothing


def test_pages_prefer_the_local_photo(photos: Path, client: Client, assets: Path) -> None:
    image_id, source = next(iter(photo_ids(assets).items()))
    page = client.get(f"/image_info?image_id={image_id}&format=json").get_json()
    assert page["url"] == f"/photos/{photo_index(photos)[image_id]}"
    answer = client.get(page["url"])
    assert answer.status_code == 200 and answer.data == source.read_bytes()
    assert answer.mimetype == {".jpg": "image/jpeg", ".bmp": "image/bmp"}[source.suffix]
    assert "max-age=86400" in answer.headers["Cache-Control"]
    assert "public" in answer.headers["Cache-Control"]
    again = client.get(page["url"], headers={"If-None-Match": answer.headers["ETag"]})
    assert again.status_code == 304
    other = client.get("/image_info?image_id=0041c772f8b9aef6&format=json").get_json()
    assert other["url"].startswith("https://") and other["url"].endswith("/0041c772f8b9aef6.jpg")
    search = client.get("/image_search?description=Cat&image_limit=100&format=json").get_json()
    urls = {i["image_id"]: i["url"] for i in search["images"]}
    assert urls["02b4196ce8a0e541"].startswith("/photos/02b4196ce8a0e541.")


@pytest.mark.parametrize(
    "path",
    ["/photos/", "/photos/notes.txt", "/photos/0123456789abcdef.txt",
     "/photos/../warehouse.duckdb", "/photos/%2e%2e/warehouse.duckdb",
     "/photos/..%2fwarehouse.duckdb", "/photos/ffffffffffffffff.jpg", "/photos//etc/passwd",
     "/photos/05CAE1286A212D52.bmp"],
)  # fmt: skip
def test_only_listed_photos_are_served(photos: Path, client: Client, path: str) -> None:
    (photos.parent / "warehouse.duckdb").write_text("secret")
    answer = client.get(path)
    assert answer.status_code == 404 and b"secret" not in answer.data


def test_without_oie_photos_nothing_is_served(client: Client, assets: Path) -> None:
    image_id = next(iter(photo_ids(assets)))
    page = client.get(f"/image_info?image_id={image_id}&format=json").get_json()
    assert page["url"].startswith("https://")
    assert client.get(f"/photos/{image_id}.jpg").status_code == 404


def test_the_404_page_is_html_or_json(client: Client) -> None:
    html = client.get("/no_such_page")
    text = html.get_data(as_text=True)
    assert html.status_code == 404 and html.mimetype == "text/html"
    assert "<main" in text and "No page at /no_such_page." in text
    assert 'href="/image_search"' in text and 'aria-label="Breadcrumb"' in text
    as_json = {"Accept": "application/json"}
    for answer in (client.get("/no_such_page?format=json"), client.get("/x", headers=as_json)):
        assert answer.status_code == 404 and answer.mimetype == "application/json"
        body = answer.get_json()
        assert body["ok"] is False and body["status"] == 404
        assert "/image_search" in body["functions"]


@pytest.mark.parametrize(
    "params",
    [
        {"description": "Picnic basket", "image_limit": 10},
        {"descriptions": "Cat,Dog", "mode": "all"},
        {"class1": "Com%", "relation": "at", "class2": "_x"},
        {"description": "Café crème", "q": "a&b=c"},
        {"description": "Man's hat (toy)", "after": "1-00ff"},
        {"x": "plus+sign", "y": "tab\there", "z": "~._-"},
        {"flag": True, "n": 0, "f": 1.5},
        {},
    ],
)
def test_links_encode_as_urlencode_does(params: dict) -> None:
    from urllib.parse import urlencode

    from oie.links import Links

    query = urlencode(params)
    assert Links().url("image_search", **params) == "/image_search" + (f"?{query}" if query else "")
