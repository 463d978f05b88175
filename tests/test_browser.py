"""A real browser (Debian's chromium, headless) uses the start page's forms."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import need
from .support.servers import free_port, running

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
OIE = Path(sys.executable).parent / "oie"


@pytest.fixture
def base_url(demo_env: Path) -> Iterator[str]:
    port = free_port()
    with running([str(OIE), "serve", "--port", str(port)], f"http://127.0.0.1:{port}/"):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def page(base_url: str):  # type: ignore[no-untyped-def]
    need(Path(CHROMIUM).exists(), "no chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        context = browser.new_context()
        # the photos live in a public bucket this machine cannot reach: answer locally
        context.route("https://storage.googleapis.com/**", lambda route: route.abort())
        yield context.new_page()
        browser.close()


def test_image_search_form_shows_results(page, base_url: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(base_url + "/")
    form = page.locator("#image_search-form")
    form.locator("input[name=description]").fill("Guitar")
    form.locator("button[type=submit]").click()
    page.wait_for_url("**/image_search?**")
    assert "Guitar" in page.title()
    rows = page.locator("#results tr")
    assert rows.count() == 11  # header + 10 results, the seed's default limit
    assert "10 results out of 10 requested" in page.content()
    rows.nth(1).locator("a").first.click()
    page.wait_for_url("**/image_info?image_id=*")
    assert page.locator("text=Guitar").count() >= 1


def test_bad_input_shows_a_message(page, base_url: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(base_url + "/image_search?description=Cat&image_limit=5000")
    assert "image_limit must be a whole number from 1 to 1000" in page.content()


def test_upload_form_classifies_a_photo(page, base_url: str, assets: Path) -> None:  # type: ignore[no-untyped-def]
    page.goto(base_url + "/")
    form = page.locator("#image_classify-form")
    form.locator("input[type=file]").set_input_files(
        [str(assets / "images" / "parrot.jpg"), str(assets / "images" / "hot_dog.jpg")]
    )
    form.locator("button[type=submit]").click()
    page.wait_for_selector("#results")
    rows = page.locator("#results tr")
    assert rows.count() == 3
    assert "macaw" in rows.nth(1).inner_text() and "hotdog" in rows.nth(2).inner_text()
