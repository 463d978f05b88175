"""A real browser (Debian's chromium, headless) uses the start page's forms and the pages:
the grid, type-ahead, the offline photos, 400 px wide, dark mode, the 404."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from oie.links import link_photos

from .conftest import need
from .support.servers import free_port, running
from .test_ui import photo_ids

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
OIE = Path(sys.executable).parent / "oie"


WITHOUT_PHOTO = "0041c772f8b9aef6"  # in the demo data; no file in the assets


@pytest.fixture
def base_url(demo_env: Path, assets: Path, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:  # fmt: skip
    photos = tmp_path / "photos"
    link_photos(assets / "openimages" / "photo-ids.csv", assets / "images", photos)
    monkeypatch.setenv("OIE_PHOTOS", str(photos))
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
    cards = page.locator("#results .card")
    assert cards.count() == 10  # the seed's default limit
    assert "10 results out of 10 requested" in page.content()
    first = cards.nth(0)
    image_id = first.locator(".id").inner_text()
    assert first.locator("img").get_attribute("loading") == "lazy"
    assert first.locator("a.chip").inner_text() == "Guitar"
    first.locator("a.photo").click()
    page.wait_for_url(f"**/image_info?image_id={image_id}")
    assert page.locator("#photo img").count() == 1
    assert "Guitar" in page.locator("main .chips").inner_text()
    page.go_back()
    cards.nth(1).locator("a.chip").click()  # a class chip is that class's search
    page.wait_for_url("**/image_search?description=Guitar")


def test_every_list_of_images_is_a_grid_of_linked_cards(page, base_url: str) -> None:  # type: ignore[no-untyped-def]
    lists = {
        "/image_search_multiple?descriptions=Man,Guitar&image_limit=6": ["Man", "Guitar"],
        "/relation_search?relation=plays&image_limit=6": None,
    }
    for url, names in lists.items():
        page.goto(base_url + url)
        cards = page.locator("#results .card")
        assert cards.count() == 6, url
        for n in range(6):
            card = cards.nth(n)
            image_id = card.locator(".id").inner_text()
            assert (
                card.locator("a.photo").get_attribute("href") == f"/image_info?image_id={image_id}"
            )
            chips = card.locator("a.chip").all_inner_texts()
            assert chips and (names is None or set(chips) <= set(names)), (url, chips)
    page.goto(base_url + "/relation_search?relation=plays&image_limit=1")
    card = page.locator("#results .card").first
    chip = card.locator("a.chip").first
    name = chip.inner_text()
    chip.click()
    page.wait_for_url("**/image_search?description=*")
    assert page.locator("h1").inner_text() == f"Images of {name}"


def test_type_ahead_fills_a_field(page, base_url: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(base_url + "/")
    field = page.locator("#image_search-description")
    field.fill("")
    field.press_sequentially("gui", delay=30)
    option = page.locator("#image_search-description-suggestions li", has_text="Guitar")
    option.first.wait_for()
    assert "images" in option.first.inner_text()  # with its count
    option.first.click()
    assert field.input_value() == "Guitar"
    # a comma list: the last item is completed, the others kept; keys choose too
    many = page.locator("#image_search_multiple-descriptions")
    many.fill("")
    many.press_sequentially("Cat,tab", delay=30)
    page.locator("#image_search_multiple-descriptions-suggestions li").first.wait_for()
    many.press("ArrowDown")
    many.press("Enter")
    assert many.input_value() == "Cat,Table"
    # a misspelling is offered its closest spellings
    field.fill("")
    field.press_sequentially("Gutiar", delay=30)
    page.locator("#image_search-description-suggestions li", has_text="Guitar").wait_for()


def test_offline_photos_are_shown_and_a_missing_one_is_a_placeholder(
    page, base_url: str, assets: Path
) -> None:  # type: ignore[no-untyped-def]
    image_id = next(iter(photo_ids(assets)))
    page.goto(base_url + f"/image_info?image_id={image_id}")
    img = page.locator("#photo img")
    assert img.get_attribute("src").startswith("/photos/")
    page.wait_for_function("document.querySelector('#photo img').complete")
    assert img.evaluate("i => i.naturalWidth") > 0
    assert page.locator("#photo .missing").count() == 0
    page.goto(base_url + f"/image_info?image_id={WITHOUT_PHOTO}")  # its remote photo fails here
    page.locator("#photo a.photo.missing").wait_for()
    after = page.locator("#photo a.photo").evaluate("a => getComputedStyle(a, '::after').content")
    assert "No photo" in after
    cat = "02b4196ce8a0e541"  # cat_720p.jpg, a Cat of the demo data
    assert cat in photo_ids(assets)
    page.goto(base_url + "/image_search?description=Cat&image_limit=100")
    card = page.locator("#results .card", has=page.locator(f"text={cat}"))
    card.scroll_into_view_if_needed()
    card.locator("img").evaluate("i => i.decode()")
    assert card.locator("img").evaluate("i => i.naturalWidth") > 0


PAGES = [
    "/", "/classes", "/relations", "/image_info?image_id=4c7a12ee5a5c9300",
    "/image_search?description=Cat", "/image_search?description=Catt",
    "/image_search_multiple?descriptions=Man,Guitar,Table",
    "/relation_search?class1=%25&relation=plays&class2=%25", "/results",
    "/image_classify_classes", "/image_classify", "/label_detection", "/suggest?q=ta",
    "/image_search?description=Cat&image_limit=5000", "/no_such_page",
    "/class_info?description=Cat", "/image_search?description=Animal&subclasses=1",
]  # fmt: skip


def test_every_page_fits_400_px_and_labels_its_controls(page, base_url: str) -> None:  # type: ignore[no-untyped-def]
    page.set_viewport_size({"width": 400, "height": 800})
    for url in PAGES:
        page.goto(base_url + url)
        page.wait_for_load_state("load")
        wide = page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert wide[0] <= wide[1], (url, wide)
        assert page.locator("main").count() == 1, url
        assert (
            page.locator(
                "nav[aria-label=Breadcrumb] a, nav[aria-label=Breadcrumb] [aria-current]"
            ).count()
            >= 1
        )
        unlabelled = page.evaluate(
            "[...document.querySelectorAll('input, select, textarea')]"
            ".filter(e => e.type !== 'hidden' && !e.labels.length && !e.getAttribute('aria-label'))"
            ".map(e => e.name)"
        )
        assert unlabelled == [], (url, unlabelled)
    assert "javascript:history.back()" not in page.content()


def test_breadcrumbs_lead_back(page, base_url: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(base_url + "/image_info?image_id=4c7a12ee5a5c9300")
    crumbs = page.locator("nav[aria-label=Breadcrumb] li")
    assert crumbs.first.inner_text() == "Start page"
    crumbs.nth(1).locator("a").click()
    page.wait_for_url("**/image_search?description=*")
    page.locator("nav[aria-label=Breadcrumb] a", has_text="Classes").click()
    page.wait_for_url("**/classes")
    page.goto(base_url + "/")
    page.locator("#results-link").click()
    page.wait_for_url("**/results")
    page.goto(base_url + "/")
    assert page.locator("#label_detection-link").get_attribute("href") == "/label_detection"


def test_dark_mode_follows_the_system(page, base_url: str) -> None:  # type: ignore[no-untyped-def]
    colours = {}
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.goto(base_url + "/image_search?description=Cat")
        colours[scheme] = page.evaluate(
            "[getComputedStyle(document.documentElement).backgroundColor,"
            " getComputedStyle(document.body).color,"
            " getComputedStyle(document.querySelector('.card')).backgroundColor]"
        )
    assert all(a != b for a, b in zip(colours["light"], colours["dark"], strict=True)), colours


def test_a_missing_page_is_a_styled_404(page, base_url: str) -> None:  # type: ignore[no-untyped-def]
    answer = page.goto(base_url + "/no_such_page")
    assert answer is not None and answer.status == 404
    assert page.locator("main h1").inner_text() == "Page not found"
    assert page.locator("main .error").inner_text() == "No page at /no_such_page."
    page.locator("main a", has_text="/classes").click()
    page.wait_for_url("**/classes")


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


def test_a_facet_click_narrows_the_search(page, base_url: str) -> None:  # type: ignore[no-untyped-def]
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(base_url + "/image_search?description=Man")
    grid, panel = (
        page.locator("#results").bounding_box(),
        page.locator("aside.facets").bounding_box(),
    )
    assert panel["x"] >= grid["x"] + grid["width"] and panel["y"] < grid["y"] + 100  # beside
    page.set_viewport_size({"width": 400, "height": 800})
    grid, panel = (
        page.locator("#results").bounding_box(),
        page.locator("aside.facets").bounding_box(),
    )
    assert panel["y"] >= grid["y"] + grid["height"]  # below, where there is no room beside
    facet = page.locator("aside.facets a").first
    name = facet.inner_text()
    count = facet.evaluate("a => a.parentElement.querySelector('.count').textContent")
    facet.click()
    page.wait_for_load_state("load")
    assert "/image_search_multiple" in page.url and "mode=all" in page.url
    cards = page.locator(".card")
    assert 0 < cards.count() <= int(count)
    for n in range(cards.count()):  # every image found has both classes
        chips = cards.nth(n).locator(".chip").all_inner_texts()
        assert "Man" in chips and name in chips, chips


def test_subclasses_include_every_class_below(page, base_url: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(base_url + "/image_search?description=Animal")
    assert page.locator(".card").count() == 0  # no image is labelled Animal itself
    page.goto(base_url + "/image_search?description=Animal&subclasses=1")
    assert page.locator(".card").count() > 0
    said = page.locator("p.subclasses").inner_text()
    assert said.startswith("With ") and "images of Animal or a class below it" in said
    # the class page: Cat's path to the root, and a step down from Animal
    page.goto(base_url + "/class_info?description=Cat")
    (path,) = page.locator("ul.paths li").all_inner_texts()
    assert [step.strip() for step in path.split("\u203a")] == [
        "Entity", "Animal", "Mammal", "Carnivore", "Cat"]  # fmt: skip
    page.locator("ul.paths a", has_text="Animal").click()
    page.wait_for_load_state("load")
    assert page.locator("main li a", has_text="Mammal").count() >= 1
