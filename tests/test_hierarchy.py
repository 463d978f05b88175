"""The class hierarchy: its import and checks, class_info, and searches with subclasses=1,
each answer compared with the oracle's reading of the CSVs and the hierarchy file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import Client

from oie.dataset.importer import ImportFailed, import_files
from oie.warehouse.duckdb_adapter import DuckDBWarehouse
from tests.conftest import hierarchy_file
from tests.oracle import HierarchyOracle


@pytest.fixture(scope="module")
def oracle(course_files: dict[str, Path]) -> HierarchyOracle:
    return HierarchyOracle(course_files, hierarchy_file(course_files))


def get(client: Client, url: str, status: int = 200) -> dict[str, Any]:
    response = client.get(url, headers={"Accept": "application/json"})
    assert response.status_code == status, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    return body


def walk(client: Client, url: str, key: str = "next") -> list[dict[str, Any]]:
    pages = []
    while url:
        pages.append(get(client, url))
        url = pages[-1][key]
        assert len(pages) < 500
    return pages


def test_subclass_search_walks_every_image_once(client: Client, oracle: HierarchyOracle) -> None:
    want = oracle.images_below("Animal")
    assert len(want) > len(oracle.images_of("Animal")) + 50  # the subclasses add images
    pages = walk(client, "/image_search?description=Animal&subclasses=1&image_limit=7")
    got = [im["image_id"] for p in pages for im in p["images"]]
    assert got == want  # each image once, in ImageId order, every page
    first = pages[0]
    assert first["subclasses"] is True
    assert first["subclasses_added"] == len(oracle.below("Animal"))
    assert first["num_images_with_subclasses"] == {"Animal": len(want)}
    back = walk(client, pages[-1]["previous"], "previous")
    assert [im["image_id"] for p in reversed(back) for im in p["images"]] == got[
        : -len(pages[-1]["images"])
    ]
    plain = get(client, "/image_search?description=Animal&image_limit=1000")
    assert [im["image_id"] for im in plain["images"]] == oracle.images_of("Animal")
    assert plain["subclasses"] is False


def test_a_class_under_two_parents(client: Client, oracle: HierarchyOracle) -> None:
    parents = oracle.related("Bicycle", "child", "Subcategory")
    assert len(parents) == 2
    body = get(client, "/class_info?description=Bicycle")
    assert sorted(p["description"] for p in body["parents"]) == parents
    bikes = set(oracle.images_of("Bicycle"))
    for parent in parents:
        below = oracle.images_below(parent)
        assert bikes <= set(below)
        info = get(client, f"/class_info?description={parent}")
        assert info["class"]["num_images_with_subclasses"] == len(below)
        children = {c["description"]: c for c in info["children"]}
        assert children["Bicycle"]["num_images"] == len(bikes)
        assert sorted(children) == oracle.related(parent, "parent", "Subcategory")
    assert len(body["paths_to_root"]) >= 2
    assert all(path[-1]["description"] == "Entity" for path in body["paths_to_root"])


def test_parts_are_listed_but_not_searched(client: Client, oracle: HierarchyOracle) -> None:
    info = get(client, "/class_info?description=Human body")
    assert sorted(p["description"] for p in info["parts"]) == oracle.related(
        "Human body", "parent", "Part"
    )
    assert "Human face" in [p["description"] for p in info["parts"]]
    pages = walk(client, "/image_search?description=Human body&subclasses=1&image_limit=50")
    got = [im["image_id"] for p in pages for im in p["images"]]
    assert got == oracle.images_below("Human body")
    assert not set(oracle.images_of("Human face")) <= set(got)


def test_root_page(client: Client, oracle: HierarchyOracle) -> None:
    body = get(client, "/class_info?label=/m/0bl9f")
    assert body["class"]["description"] == "Entity" and body["parents"] == []
    assert body["paths_to_root"] == []
    every = {r[0] for r in oracle.rows("SELECT DISTINCT ImageId FROM image_labels")}
    assert body["class"]["num_images_with_subclasses"] == len(every)


@pytest.mark.parametrize("mode", ["all", "any"])
def test_multiple_with_subclasses(client: Client, oracle: HierarchyOracle, mode: str) -> None:
    animal, person = set(oracle.images_below("Animal")), set(oracle.images_below("Person"))
    both = sorted(animal & person)
    want = both if mode == "all" else both + sorted((animal | person) - (animal & person))
    url = f"/image_search_multiple?descriptions=Animal,Person&mode={mode}&subclasses=1"
    pages = walk(client, url + "&image_limit=9")
    got = [im["image_id"] for p in pages for im in p["images"]]
    assert got == want
    tiers = [im["matched"] for p in pages for im in p["images"]]
    assert tiers == [2] * len(both) + [1] * (len(want) - len(both))
    one = (
        next(im for p in pages for im in p["images"] if im["matched"] == 1)
        if mode == "any"
        else None
    )
    if one:
        [c] = one["classes"]
        assert one["image_id"] in (animal if c["description"] == "Animal" else person)


@pytest.mark.parametrize(
    ("url", "param", "message"),
    [
        ("/class_info?label=/m/zzzzz", "label", "no class /m/zzzzz"),
        ("/class_info?label=cat", "label", "like /m/01yrx"),
        ("/class_info?description=Catt", "description", "no class named 'Catt'"),
        ("/class_info", "description", "description is required"),
        ("/image_search?description=Cat&subclasses=yes", "subclasses", "one of 0, 1"),
        ("/image_search_multiple?descriptions=Cat&subclasses=2", "subclasses", "one of 0, 1"),
    ],
)
def test_bad_input_is_a_400(client: Client, url: str, param: str, message: str) -> None:
    body = get(client, url, 400)
    assert body["param"] == param and message in body["error"]


@pytest.mark.parametrize(
    ("tree", "message"),
    [
        ({"LabelName": "/m/a", "Subcategory": [{"LabelName": "/m/b", "Subcategory": [
            {"LabelName": "/m/a"}]}]}, "a cycle: /m/a > /m/b > /m/a"),
        ({"LabelName": "/m/a", "Subcategory": [
            {"LabelName": "/m/b", "Subcategory": [{"LabelName": "/m/c"}]},
            {"LabelName": "/m/c", "Part": [{"LabelName": "/m/b"}]}]}, "a cycle"),
        ({"LabelName": "/m/a", "Subcategory": [{"LabelName": "Cat"}]}, "LabelName 'Cat'"),
        ({"LabelName": "/m/a", "Children": [{"LabelName": "/m/b"}]}, "keys Children, LabelName"),
        ({"LabelName": "/m/a", "Subcategory": {"LabelName": "/m/b"}}, "Subcategory is not a list"),
        ([1, 2], "expected an object"),
    ],
)  # fmt: skip
def test_bad_hierarchy_files_change_nothing(
    tmp_path: Path, course_files: dict[str, Path], tree: object, message: str
) -> None:
    wh = DuckDBWarehouse(tmp_path / "w.duckdb")
    import_files(wh, {**course_files, "class_hierarchy": hierarchy_file(course_files)})
    bad = tmp_path / "h.json"
    bad.write_text(json.dumps(tree))
    with pytest.raises(ImportFailed, match=message):
        import_files(wh, {"class_hierarchy": bad})
    assert wh.row_count("class_hierarchy") == 685
    bad.write_text("{not json")
    with pytest.raises(ImportFailed, match="is not JSON"):
        import_files(wh, {"class_hierarchy": bad})


def test_without_a_hierarchy_the_pages_still_work(
    tmp_path: Path, course_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch, host_app
) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import fresh_app

    wh = DuckDBWarehouse(tmp_path / "plain.duckdb")
    import_files(wh, course_files)
    assert wh.row_count("class_hierarchy") == 0
    wh.close()
    monkeypatch.setenv("OIE_WAREHOUSE", "duckdb")
    monkeypatch.setenv("OIE_DUCKDB_PATH", str(tmp_path / "plain.duckdb"))
    monkeypatch.setenv("OIE_DATA_DIR", str(tmp_path / "data"))
    fresh_app()
    client = Client(host_app)
    body = get(client, "/image_search?description=Cat&subclasses=1&image_limit=3")
    assert body["subclasses_added"] == 0 and body["count"] == 3
    assert get(client, "/class_info?description=Cat")["in_hierarchy"] is False
    fresh_app()
