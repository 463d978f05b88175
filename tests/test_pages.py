"""Every explorer endpoint through the local host, checked against SQLite over the CSVs."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from werkzeug.test import Client

from oie.settings import SettingError, Settings
from tests.conftest import fresh_app

from .oracle import Oracle


@pytest.fixture(scope="module")
def oracle(course_files: dict[str, Path]) -> Oracle:
    return Oracle(course_files)


def get_json(client: Client, url: str, status: int = 200) -> dict[str, Any]:
    sep = "&" if "?" in url else "?"
    response = client.get(f"{url}{sep}format=json")
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    return response.get_json()


def walk(client: Client, url: str, key: str = "images", direction: str = "next") -> list[dict]:
    """Every row of a paginated list, following its links."""
    rows, seen = [], set()
    while url:
        assert url not in seen, f"pagination loops at {url}"
        seen.add(url)
        page = get_json(client, url)
        rows += page[key]
        url = page[direction]
    return rows


def test_classes_lists_every_class_with_images(client: Client, oracle: Oracle) -> None:
    page = get_json(client, "/classes")
    got = [(c["description"], c["num_images"]) for c in page["classes"]]
    assert got == oracle.classes_with_images()
    assert page["total"] == len(got) and page["next"] is None
    cat = next(c for c in page["classes"] if c["description"] == "Cat")
    assert cat["image_search"] == "/image_search?description=Cat"


def test_classes_pages_cover_the_same_list(client: Client, oracle: Oracle) -> None:
    rows = walk(client, "/classes?limit=7", key="classes")
    assert [(c["description"], c["num_images"]) for c in rows] == oracle.classes_with_images()


def test_relations_count_rows_and_images(client: Client, oracle: Oracle) -> None:
    page = get_json(client, "/relations")
    got = [(r["relation"], r["num_relations"], r["num_images"]) for r in page["relations"]]
    assert got == oracle.relation_counts()
    html = client.get("/relations").get_data(as_text=True)
    assert 'href="/relation_search?relation=plays"' in html


@pytest.mark.parametrize("image_id", ["0041c772f8b9aef6", "4c7a12ee5a5c9300"])
def test_image_info(client: Client, oracle: Oracle, image_id: str) -> None:
    page = get_json(client, f"/image_info?image_id={image_id}")
    assert [c["description"] for c in page["classes"]] == oracle.image_classes(image_id)
    got = [
        (r["class1"]["description"], r["relation"], r["class2"]["description"])
        for r in page["relations"]
    ]
    assert got == oracle.image_relations(image_id)
    assert page["url"].endswith(f"/{image_id}.jpg")
    html = client.get(f"/image_info?image_id={image_id.upper()}").get_data(as_text=True)
    assert f'src="{page["url"]}"' in html


def test_image_info_unknown_and_malformed_ids(client: Client) -> None:
    missing = get_json(client, "/image_info?image_id=ffffffffffffffff", status=404)
    assert "ffffffffffffffff" in missing["error"]
    bad = get_json(client, "/image_info?image_id=not-an-id", status=400)
    assert bad["param"] == "image_id" and "16 hexadecimal" in bad["error"]
    assert get_json(client, "/image_info", status=400)["param"] == "image_id"


@pytest.mark.parametrize("description", ["Cat", "Man", "Guitar"])
def test_image_search_pages_through_every_image_in_order(
    client: Client, oracle: Oracle, description: str
) -> None:
    expected = oracle.images_of(description)
    first = get_json(client, f"/image_search?description={description}&image_limit=7")
    assert [i["image_id"] for i in first["images"]] == expected[:7]
    assert first["class"]["num_images"] == len(expected)
    assert first["previous"] is None
    forward = walk(client, f"/image_search?description={description}&image_limit=7")
    assert [i["image_id"] for i in forward] == expected
    # from the last page, previous links walk back over the same pages
    last_url = f"/image_search?description={description}&image_limit=7"
    while (page := get_json(client, last_url))["next"]:
        last_url = page["next"]
    backward = walk(client, last_url, direction="previous")
    assert sorted(i["image_id"] for i in backward) == expected


def test_image_search_html_matches_seed_page(client: Client, oracle: Oracle) -> None:
    html = client.get("/image_search?description=Cat&image_limit=5").get_data(as_text=True)
    n = min(5, len(oracle.images_of("Cat")))
    assert f"{n} results out of 5 requested" in html
    first = oracle.images_of("Cat")[0]
    assert f'href="/image_info?image_id={first}"' in html
    assert 'aria-label="Breadcrumb"' in html and "Start page" in html


def test_image_search_unknown_class_suggests(client: Client) -> None:
    page = get_json(client, "/image_search?description=Guita")
    assert page["images"] == [] and page["class"] is None
    [note] = page["not_found"]
    assert "Guitar" in [c["description"] for c in note["did_you_mean"]]


def test_image_search_is_case_insensitive(client: Client, oracle: Oracle) -> None:
    page = get_json(client, "/image_search?description=cAT&image_limit=100")
    assert [i["image_id"] for i in page["images"]] == oracle.images_of("Cat")


@pytest.mark.parametrize("mode", ["any", "all"])
@pytest.mark.parametrize("names", [["Man", "Guitar"], ["Girl", "Violin", "Chair"], ["Cat"]])
def test_image_search_multiple(client: Client, oracle: Oracle, names: list[str], mode: str) -> None:
    expected = oracle.images_of_any(names, mode)
    url = f"/image_search_multiple?descriptions={','.join(names)}&mode={mode}&image_limit=9"
    rows = walk(client, url)
    assert [(r["image_id"], r["matched"]) for r in rows] == expected
    for r in rows:
        assert r["of"] == len(names)
        got = [c["description"] for c in r["classes"]]
        assert got == [n for n in names if n in got]  # in the order asked for
        assert len(r["classes"]) == r["matched"]


@pytest.mark.parametrize("names", [["Man", "Guitar"], ["Man", "Table", "Guitar"], ["Girl"]])
def test_image_search_multiple_in_small_slices(
    client: Client, oracle: Oracle, names: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The slice-by-slice reading that big classes take gives the same pages."""
    from oie import explore

    monkeypatch.setattr(explore, "WHOLE_ROWS", 0)
    monkeypatch.setattr(explore, "SLICE_ROWS", 25)
    for mode in ("any", "all"):
        url = f"/image_search_multiple?descriptions={','.join(names)}&mode={mode}&image_limit=6"
        rows = walk(client, url)
        assert [(r["image_id"], r["matched"]) for r in rows] == oracle.images_of_any(names, mode)
        last = url
        while nxt := get_json(client, last)["next"]:
            last = nxt
        back = walk(client, last, direction="previous")
        assert len(back) == len(rows)


def test_image_search_multiple_previous_links(client: Client) -> None:
    url: str | None = "/image_search_multiple?descriptions=Man,Guitar,Table&image_limit=8"
    pages, last = [], ""
    while url:
        last, page = url, get_json(client, url)
        pages.append([r["image_id"] for r in page["images"]])
        url = page["next"]
    assert len(pages) > 2
    back, url = [], get_json(client, last)["previous"]
    while url:
        page = get_json(client, url)
        back.insert(0, [r["image_id"] for r in page["images"]])
        url = page["previous"]
    assert back == pages[:-1]


def test_image_search_multiple_needs_descriptions(client: Client) -> None:
    for query in ("", "descriptions=", "descriptions=,%20,"):
        page = get_json(client, f"/image_search_multiple?{query}", status=400)
        assert page["param"] == "descriptions"
    html = client.get("/image_search_multiple")
    assert html.status_code == 400 and "descriptions is required" in html.get_data(as_text=True)
    assert (
        get_json(client, "/image_search_multiple?descriptions=Cat&mode=some", 400)["param"]
        == "mode"
    )


def test_image_search_multiple_reports_unknown_names(client: Client, oracle: Oracle) -> None:
    page = get_json(client, "/image_search_multiple?descriptions=Cat,Unicorn&image_limit=100")
    assert [n["name"] for n in page["not_found"]] == ["Unicorn"]
    assert [r["image_id"] for r in page["images"]] == oracle.images_of("Cat")


@pytest.mark.parametrize(
    ("class1", "relation", "class2"),
    [
        ("%", "plays", "%"),
        ("Girl", "%", "%"),
        ("%an", "at", "T%"),
        ("%", "%", "%"),
        ("m_n", "wears", "%"),
        ("%", "inside\\_of", "%"),
    ],
)
def test_relation_search(
    client: Client, oracle: Oracle, class1: str, relation: str, class2: str
) -> None:
    from urllib.parse import urlencode

    query = urlencode({"class1": class1, "relation": relation, "class2": class2, "image_limit": 50})
    rows = walk(client, f"/relation_search?{query}", key="relations")
    got = [
        (r["image_id"], r["class1"]["description"], r["relation"], r["class2"]["description"])
        for r in rows
    ]
    assert got == oracle.relation_search(class1, relation, class2)
    assert got, "the case should match something"


def test_relation_search_pages_have_offsets(client: Client) -> None:
    page = get_json(client, "/relation_search?relation=on&image_limit=5")
    nxt = parse_qs(urlsplit(page["next"]).query)
    assert nxt["offset"] == ["5"] and nxt["relation"] == ["on"]
    second = get_json(client, page["next"])
    assert parse_qs(urlsplit(second["previous"]).query).get("offset") is None


@pytest.mark.parametrize(
    "url",
    [
        "/image_search?description=Cat&image_limit=0",
        "/image_search?description=Cat&image_limit=1001",
        "/image_search?description=Cat&image_limit=ten",
        "/image_search?description=Cat&image_limit=-1",
        "/image_search_multiple?descriptions=Cat&image_limit=2.5",
        "/relation_search?image_limit=",
        "/classes?limit=0",
        "/classes?offset=-3",
    ],
)
def test_limits_are_validated(client: Client, url: str) -> None:
    if url.endswith("image_limit="):
        assert client.get(url).status_code == 200  # empty means the default
        return
    page = get_json(client, url, status=400)
    assert page["ok"] is False and page["param"] in ("image_limit", "limit", "offset")
    html = client.get(url)
    assert html.status_code == 400 and html.mimetype == "text/html"
    assert "must be a whole number" in html.get_data(as_text=True)


def test_json_by_accept_header(client: Client) -> None:
    response = client.get("/relations", headers={"Accept": "application/json"})
    assert response.mimetype == "application/json" and response.get_json()["ok"] is True
    browser = client.get("/relations", headers={"Accept": "text/html,application/json;q=0.9"})
    assert browser.mimetype == "text/html"


def test_post_is_refused(client: Client) -> None:
    response = client.post("/classes")
    assert response.status_code == 405 and "GET" in response.headers["Allow"]


def test_index_has_a_form_per_endpoint(client: Client) -> None:
    html = client.get("/").get_data(as_text=True)
    for name in ("image_info", "image_search", "image_search_multiple", "relation_search"):
        assert f'action="/{name}"' in html
    assert 'value="0041c772f8b9aef6"' in html and 'value="Cat,Dog"' in html
    assert client.get("/index").status_code == 200
    assert client.get("/no_such_function").status_code == 404


def test_links_follow_base_url_and_image_template(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:

    monkeypatch.setenv("OIE_BASE_URL", "https://europe-west1-demo.cloudfunctions.net/")
    monkeypatch.setenv("OIE_IMAGE_URL_TEMPLATE", "http://img.local/{image_id}.png")
    fresh_app()
    page = get_json(client, "/image_search?description=Cat&image_limit=1")
    assert page["images"][0]["image_info"].startswith(
        "https://europe-west1-demo.cloudfunctions.net/image_info?image_id="
    )
    assert page["images"][0]["url"] == f"http://img.local/{page['images'][0]['image_id']}.png"
    fresh_app()


def test_the_start_page_offers_no_upload_form_a_browser_could_not_send(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert 'id="image_classify-form"' in client.get("/").get_data(as_text=True)
    monkeypatch.setenv("OIE_UPLOADS_PUBLIC", "false")  # deployed without --public-uploads
    fresh_app()
    html = client.get("/").get_data(as_text=True)
    assert 'id="image_classify-form"' not in html
    assert "print-identity-token" in html and 'id="image_search-form"' in html
    with pytest.raises(SettingError, match="OIE_UPLOADS_PUBLIC='maybe'"):
        Settings.from_env({"OIE_UPLOADS_PUBLIC": "maybe"})


def test_missing_warehouse_is_a_clear_503(
    client: Client, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:

    monkeypatch.setenv("OIE_DUCKDB_PATH", str(tmp_path / "empty.duckdb"))
    fresh_app()
    page = get_json(client, "/classes", status=503)
    assert "oie import" in page["error"]
