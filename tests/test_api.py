"""The API described: `/?format=json` lists every function with its parameters, and the
OpenAPI document the local host serves is valid and says what the functions accept."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from openapi_spec_validator import validate
from werkzeug.test import Client

from oie import manifest


@pytest.fixture
def document(client: Client) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    found: dict[str, Any] = response.get_json()
    return found


def test_the_index_lists_every_function_with_its_parameters(client: Client) -> None:
    body = client.get("/?format=json").get_json()
    listed = {f["name"]: f for f in body["functions"]}
    # the code's list of functions (a bundle has no manifest) is the manifest's
    assert sorted(listed) == sorted(f.name for f in manifest.load())
    assert {n: f["kind"] for n, f in listed.items()} == {f.name: f.kind for f in manifest.load()}
    search = {p["name"]: p for p in listed["image_search"]["parameters"]}
    assert search["description"]["required"] is True
    assert (search["image_limit"]["minimum"], search["image_limit"]["maximum"]) == (1, 1000)
    assert listed["image_search"]["formats"] == ["html", "json", "csv", "ndjson"]
    assert listed["image_info"]["formats"] == ["html", "json"]
    assert listed["image_classify"]["method"] == "POST"
    assert listed["classify_tflite"]["kind"] == "event"


def test_the_openapi_document_is_valid(document: dict[str, Any]) -> None:
    validate(document)  # raises on any error of OpenAPI 3.1
    assert document["openapi"] == "3.1.0"
    http = {f.name for f in manifest.load() if f.kind == "http"}
    assert {p.strip("/") or "index" for p in document["paths"]} == http


def value(p: dict[str, Any]) -> str:
    """A value the parameter's schema allows: its example, default or lowest."""
    s = p["schema"]
    if s.get("examples"):
        return str(s["examples"][0])
    if s.get("enum"):
        return str(s["enum"][-1])
    if "minimum" in s:
        return str(s["maximum"] if p["name"] in ("limit", "image_limit") else s["minimum"])
    if "pattern" in s:
        tiered = s["pattern"].startswith("^([1-9]")  # a page position: tier-ImageId
        return "1-0123456789abcdef" if tiered else "0123456789abcdef"
    if "ISO" in s.get("description", ""):
        return "2026-01-01"
    return str(s.get("default") or "Cat")


def gets(document: dict[str, Any]) -> list[tuple[str, dict[str, Any], list[dict[str, Any]]]]:
    return [(path, ops["get"], ops["get"]["parameters"])
            for path, ops in document["paths"].items() if "get" in ops]  # fmt: skip


def test_every_documented_parameter_is_accepted(client: Client, document: dict[str, Any]
                                                ) -> None:  # fmt: skip
    for path, _op, params in gets(document):
        required = {p["name"]: value(p) for p in params if p["required"]}
        for p in params:
            if p["name"] == "format":
                continue
            args = {**required, p["name"]: value(p), "format": "json"}
            if path == "/class_info" and p["name"] == "label":
                args = {"label": "/m/01yrx", "format": "json"}
            response = client.get(f"{path}?{urlencode(args)}")
            assert response.status_code == 200, (path, args, response.get_json())


def test_documented_bounds_are_the_enforced_ones(client: Client, document: dict[str, Any]
                                                 ) -> None:  # fmt: skip
    for path, _op, params in gets(document):
        required = {p["name"]: value(p) for p in params if p["required"]}
        for p in params:
            s = p["schema"]
            if "maximum" not in s or s["type"] != "integer":
                continue
            args = {**required, p["name"]: str(s["maximum"] + 1), "format": "json"}
            response = client.get(f"{path}?{urlencode(args)}")
            assert response.status_code == 400 and response.get_json()["param"] == p["name"]
