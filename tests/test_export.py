"""Exports: every list page as CSV and NDJSON, the whole result set, checked against the
paged JSON for the same filters (same rows, same order), and capped with a resume link."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from werkzeug.test import Client

from oie.web import export

LISTS = [
    ("/classes?limit=50", "classes"),
    ("/relations?", "relations"),
    ("/image_search?description=Man&image_limit=37", "images"),
    ("/image_search?description=Animal&subclasses=1&image_limit=100", "images"),
    ("/image_search_multiple?descriptions=Man,Girl,Guitar&mode=any&image_limit=90", "images"),
    ("/image_search_multiple?descriptions=Man,Guitar&mode=all", "images"),
    ("/relation_search?class1=%25&relation=at&class2=%25&image_limit=25", "relations"),
]


def paged(client: Client, url: str, key: str) -> list[dict[str, Any]]:
    """Every row of a page and of its `next` links, as JSON."""
    rows: list[dict[str, Any]] = []
    link: str | None = url
    while link:
        body = client.get(link + "&format=json").get_json()
        assert body["ok"], body
        rows += body[key]
        link = body.get("next")
    return rows


@pytest.mark.parametrize(("url", "key"), LISTS)
def test_an_export_is_every_row_of_the_pages_in_order(client: Client, url: str, key: str
                                                      ) -> None:  # fmt: skip
    want = paged(client, url, key)
    assert want, url
    nd = client.get(url + "&format=ndjson")
    assert nd.status_code == 200 and nd.mimetype == "application/x-ndjson"
    assert [json.loads(line) for line in nd.get_data(as_text=True).splitlines()] == want
    got = client.get(url + "&format=CSV")  # any case
    assert got.status_code == 200 and got.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(got.get_data(as_text=True))))
    assert len(rows) == len(want)
    first = export.flat(want[0])
    assert list(rows[0]) == list(first)  # dotted columns for nested objects
    for row, expected in zip(rows, want, strict=True):
        assert row == {k: str(v) for k, v in export.flat(expected).items() if k in row}


def test_a_list_of_classes_is_their_names_in_csv(client: Client) -> None:
    url = "/image_search_multiple?descriptions=Man,Guitar&mode=all&format=csv"
    rows = list(csv.DictReader(io.StringIO(client.get(url).get_data(as_text=True))))
    assert rows and all(r["classes"] == "Man; Guitar" for r in rows)


def test_an_export_stops_at_the_cap_and_says_how_to_resume(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:  # fmt: skip
    monkeypatch.setattr(export, "PAGE_ROWS", 40)
    monkeypatch.setattr(export, "EXPORT_MAX_ROWS", 80)
    url = "/image_search?description=Man"
    want = [r["image_id"] for r in paged(client, url + "&image_limit=1000", "images")]
    assert len(want) > 120
    lines = client.get(url + "&format=ndjson").get_data(as_text=True).splitlines()
    *rows, last = (json.loads(line) for line in lines)
    assert [r["image_id"] for r in rows] == want[:80]
    assert last["truncated"] is True and last["rows"] == 80
    rest = client.get(last["resume"] if last["resume"].startswith("/") else url.split("?")[0]
                      + last["resume"]).get_data(as_text=True).splitlines()  # fmt: skip
    assert [json.loads(line)["image_id"] for line in rest[:40]] == want[80:120]
    text = client.get(url + "&format=csv").get_data(as_text=True)
    assert text.splitlines()[-1].startswith("# truncated at 80 rows; resume: ?")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/image_info?image_id=0041c772f8b9aef6&format=csv", "format must be one of html, json"),
        ("/classes?format=xml", "format must be one of html, json, csv, ndjson"),
        ("/image_search?description=Nothing%20like%20it&format=csv", None),
        ("/image_search_multiple?descriptions=Man&mode=some&format=csv", "mode must be one of"),
        ("/image_search?description=Man&after=zz&format=ndjson", "after"),
    ],
)
def test_bad_export_requests_are_explained(client: Client, url: str, message: str | None
                                           ) -> None:  # fmt: skip
    response = client.get(url, headers={"Accept": "application/json"})
    if message is None:  # an unknown class: an empty export, as its page is an empty list
        assert response.status_code == 200 and response.get_data(as_text=True) == ""
        return
    assert response.status_code == 400, response.get_data(as_text=True)
    assert message in response.get_json()["error"]


def test_a_page_that_fails_mid_export_ends_it_with_the_reason(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:  # fmt: skip
    from oie.app import current
    from oie.warehouse import QueryTimeout

    monkeypatch.setattr(export, "PAGE_ROWS", 40)
    explorer = current().explorer
    real, calls = explorer.image_search, []

    def second_page_times_out(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise QueryTimeout(5.0, "a slow statement")
        return real(*args, **kwargs)

    monkeypatch.setattr(explorer, "image_search", second_page_times_out)
    lines = client.get("/image_search?description=Man&format=ndjson").get_data(as_text=True)
    *rows, last = (json.loads(line) for line in lines.splitlines())
    assert len(rows) == 40 and last["rows"] == 40 and "5" in last["error"]
    calls.clear()
    text = client.get("/image_search?description=Man&format=csv").get_data(as_text=True)
    assert len(text.splitlines()) == 1 + 40 + 1  # header, the first page, the reason
    assert text.splitlines()[-1].startswith("# failed after 40 rows: Not available")
