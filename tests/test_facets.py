"""Facets on the search pages, compared with the oracle's counts over the CSVs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import Client

from oie.explore import FACET_CLASSES, FACET_SAMPLE
from tests.conftest import hierarchy_file
from tests.oracle import HierarchyOracle


@pytest.fixture(scope="module")
def oracle(course_files: dict[str, Path]) -> HierarchyOracle:
    return HierarchyOracle(course_files, hierarchy_file(course_files))


def facets(client: Client, url: str) -> dict[str, Any]:
    response = client.get(url, headers={"Accept": "application/json"})
    assert response.status_code == 200, response.get_data(as_text=True)
    found: dict[str, Any] = response.get_json()["facets"]
    return found


def shown(f: dict[str, Any]) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    return (
        [(c["description"], c["count"]) for c in f["classes"]],
        [(r["relation"], r["count"]) for r in f["relations"]],
    )


def expected(oracle: HierarchyOracle, images: list[str], searched: set[str]) -> tuple[list, list]:
    classes, relations = oracle.facets(images)
    return [c for c in classes if c[0] not in searched][:FACET_CLASSES], relations


@pytest.mark.parametrize("name", ["Cat", "Man", "Guitar"])
def test_one_class_is_exact(client: Client, oracle: HierarchyOracle, name: str) -> None:
    f = facets(client, f"/image_search?description={name}&image_limit=1")
    assert f["exact"] is True and f["sample"] is None
    assert shown(f) == expected(oracle, oracle.images_of(name), {name})


def test_a_facet_narrows_the_search(client: Client, oracle: HierarchyOracle) -> None:
    f = facets(client, "/image_search?description=Cat")
    first = f["classes"][0]
    response = client.get(first["narrow"] + "&image_limit=1000&format=json")
    body = response.get_json()
    assert body["mode"] == "all"
    want = oracle.images_of_any(["Cat", first["description"]], "all")
    assert [im["image_id"] for im in body["images"]] == [i for i, _ in want]
    assert len(want) == first["count"]


def test_multiple_and_subclasses(client: Client, oracle: HierarchyOracle) -> None:
    f = facets(client, "/image_search_multiple?descriptions=Man,Guitar&mode=all")
    images = [i for i, _ in oracle.images_of_any(["Man", "Guitar"], "all")]
    assert f["exact"] is True
    assert shown(f) == expected(oracle, images, {"Man", "Guitar"})
    f = facets(client, "/image_search_multiple?descriptions=Animal,Person&subclasses=1")
    animal, person = set(oracle.images_below("Animal")), set(oracle.images_below("Person"))
    ordered = sorted(animal | person)  # the sample: the first matching images by ImageId
    assert len(ordered) > FACET_SAMPLE
    assert f["exact"] is False and f["sample"] == FACET_SAMPLE
    assert shown(f) == expected(oracle, ordered[:FACET_SAMPLE], {"Animal", "Person"})
    assert "subclasses=1" in f["classes"][0]["narrow"]
    f = facets(client, "/image_search?description=Carnivore&subclasses=1")
    below = oracle.images_below("Carnivore")
    assert f["exact"] is (len(below) <= FACET_SAMPLE)
    assert shown(f) == expected(oracle, below[:FACET_SAMPLE], {"Carnivore"})


def test_relation_search(client: Client, oracle: HierarchyOracle) -> None:
    f = facets(client, "/relation_search?relation=plays")
    images = sorted({r[0] for r in oracle.relation_search("%", "plays", "%")})
    assert f["exact"] is True
    assert shown(f) == expected(oracle, images, set())


def test_facets_can_be_left_out(client: Client) -> None:
    assert facets(client, "/image_search?description=Cat&facets=0") is None
    for url in ("/image_search?description=Man", "/image_search_multiple?descriptions=Man,Girl",
                "/relation_search?relation=at"):  # fmt: skip
        first = client.get(url + "&facets=0&image_limit=2&format=json").get_json()
        assert first["facets"] is None and "facets=0" in first["next"], url
        assert client.get(first["next"] + "&format=json").get_json()["facets"] is None, url
    response = client.get("/image_search?description=Cat&facets=yes&format=json")
    assert response.status_code == 400 and "facets must be one of 0, 1" in response.json["error"]
