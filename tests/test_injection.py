"""Hostile strings in every parameter: correct, harmless answers, never a 500."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from werkzeug.test import Client

HOSTILE = [
    "'",
    '"',
    "%",
    "_",
    "--",
    "' OR '1'='1",
    "Cat' OR '1'='1",
    "Cat'; DROP TABLE classes; --",
    "%' OR 1=1 --",
    "\\",
    "\\%",
    "Cat\\",
    ") UNION SELECT Label, Description FROM classes --",
    "猫",
    "Ça ne marche pas 🐈",
    "@description",
    "$1",
    "x" * 5000,
    "\x00",
]

ENDPOINTS = {
    "image_info": ["image_id"],
    "image_search": ["description", "image_limit", "after", "before"],
    "image_search_multiple": ["descriptions", "mode", "image_limit", "after", "before"],
    "relation_search": ["class1", "relation", "class2", "image_limit", "offset"],
    "classes": ["limit", "offset"],
    "relations": ["format"],
    "index": ["anything"],
    "results": [
        "key",
        "classifier",
        "status",
        "prefix",
        "label",
        "min_score",
        "since",
        "until",
        "limit",
        "offset",
    ],
}
BASE = {
    "image_info": {"image_id": "0041c772f8b9aef6"},
    "image_search": {"description": "Cat"},
    "image_search_multiple": {"descriptions": "Cat,Dog"},
    "relation_search": {},
    "classes": {},
    "relations": {},
    "index": {},
    "results": {},
}


@pytest.mark.parametrize("fmt", ["json", "html"])
def test_hostile_values_never_fail(client: Client, fmt: str) -> None:
    before = client.get("/classes?format=json").get_json()["total"]
    for name, params in ENDPOINTS.items():
        for param in params:
            for value in HOSTILE:
                query = {**BASE[name], param: value, "format": fmt}
                if param == "format":
                    query = {"format": value}
                url = f"/{name}?{urlencode(query)}"
                # a hostile format is answered as the client accepts: JSON here when asked
                accept = {"Accept": "application/json"} if fmt == "json" else {}
                response = client.get(url, headers=accept)
                assert response.status_code < 500, (url, response.get_data(as_text=True)[:300])
                assert "Traceback" not in response.get_data(as_text=True)
                if response.status_code == 400 and fmt == "json":
                    assert response.get_json()["param"] == param
    assert client.get("/classes?format=json").get_json()["total"] == before


@pytest.mark.parametrize("value", ["' OR '1'='1", "Cat' OR '1'='1", "%", "Cat%", "_at"])
def test_search_text_is_data_not_sql(client: Client, value: str) -> None:
    """A description is a name, never a pattern or SQL: none of these is a class."""
    page = client.get(f"/image_search?{urlencode({'description': value, 'format': 'json'})}")
    assert page.status_code == 200
    assert page.get_json()["images"] == []


def test_relation_patterns_are_like_patterns_only(client: Client) -> None:
    everything = client.get("/relation_search?image_limit=1000&format=json").get_json()["count"]
    for value in ("' OR '1'='1", "%' OR 1=1 --", "Girl' --"):
        page = client.get(f"/relation_search?{urlencode({'class1': value, 'format': 'json'})}")
        assert page.status_code == 200
        assert page.get_json()["relations"] == [], value
        assert page.get_json()["unmatched_patterns"] == [value]
    assert everything > 0


def test_html_escapes_user_text(client: Client) -> None:
    html = client.get("/image_search?description=<script>alert(1)</script>").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html
