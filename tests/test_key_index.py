"""The local home's key indexes give exactly the rows of the statements they stand for, and
a file that is not this import's is never read."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from oie.dataset.importer import import_files
from oie.explore import IMAGE, SEARCH_AFTER, SEARCH_BEFORE, Explorer
from oie.keys import MAX_KEY, MIN_KEY, image_key
from oie.warehouse.duckdb_adapter import DuckDBWarehouse
from oie.warehouse.key_index import MAGIC, SPECS, path_of


@pytest.fixture
def copy(demo_db: Path, tmp_path: Path) -> Path:
    target = tmp_path / "w.duckdb"
    shutil.copy(demo_db, target)
    return target


def statement_keys(wh: DuckDBWarehouse, label: int, start: int, n: int, back: bool) -> list[int]:
    rows = wh.query(SEARCH_BEFORE if back else SEARCH_AFTER, {"label": label, "start": start,
                                                              "n": n})  # fmt: skip
    return [r["ImageKey"] for r in rows]


def test_every_label_from_every_kind_of_start(copy: Path) -> None:
    wh = DuckDBWarehouse(copy)
    index = wh.indexes()
    assert index is not None and all(path_of(copy, n).exists() for n in SPECS)
    labels = [r["LabelId"] for r in wh.query("SELECT DISTINCT LabelId FROM labels_by_label")]
    keys = [r["ImageKey"] for r in wh.query("SELECT ImageKey FROM labels_by_label")]
    rng = random.Random(7)
    checked = 0
    for label in labels:
        starts = [MIN_KEY, MAX_KEY, 0, *rng.sample(keys, 3)]
        starts += [s + 1 for s in starts[3:]] + [s - 1 for s in starts[3:]]
        for start in starts:
            for n in (1, 11, 1001):
                for back in (False, True):
                    want = statement_keys(wh, label, start, n, back)
                    assert index.label_keys(label, start, n, back) == want, (label, start, n, back)
                    checked += 1
    assert len(labels) > 50 and checked == 72 * len(labels)
    # ids no label has: nothing, as the statement finds nothing
    top = max(labels)
    for label in (-1, 0, top + 1, 10**9):
        assert index.label_keys(label, MIN_KEY, 10) == statement_keys(wh, label, MIN_KEY, 10, False)
    assert index.label_keys(labels[0], MIN_KEY, 0) == []
    wh.close()


def test_every_image_and_some_that_are_none(copy: Path) -> None:
    wh = DuckDBWarehouse(copy)
    index = wh.indexes()
    assert index is not None
    images = [r["ImageKey"] for r in wh.query("SELECT DISTINCT ImageKey FROM labels_by_image")]
    related = {r["ImageKey"] for r in wh.query("SELECT ImageKey FROM relations_by_image")}
    assert len(images) > 500 and len(related & set(images)) > 100
    for key in [*images, *related, MIN_KEY, MAX_KEY, 0, images[0] + 1, images[0] - 1]:
        assert index.image_rows(key) == wh.query(IMAGE, {"key": key}), key
    wh.close()


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "other import"])
def test_a_file_not_of_this_import_is_not_read(copy: Path, damage: str) -> None:
    wh = DuckDBWarehouse(copy)
    assert wh.indexes() is not None
    wh.close()
    path = path_of(copy, "images" if damage == "other import" else "labels")
    good = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"\x00not an index" * 1000)
    elif damage == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    else:  # a valid file, with another import's token
        header = bytearray(good)
        header[8:16] = (int.from_bytes(good[8:16], "little") ^ 1).to_bytes(8, "little")
        path.write_bytes(bytes(header))
    reader = DuckDBWarehouse(copy, read_only=True)
    assert reader.indexes() is None  # cannot rebuild: the statements answer
    explorer = Explorer(reader)
    page = explorer.image_search("Man", 5)
    reader.close()
    writer = DuckDBWarehouse(copy)
    index = writer.indexes()
    assert index is not None and path.read_bytes()[:8] == MAGIC.to_bytes(8, "little")
    again = Explorer(writer).image_search("Man", 5)
    assert [h.image_id for h in again.hits] == [h.image_id for h in page.hits]
    assert len(page.hits) == 5
    writer.close()


def test_an_import_replaces_it(copy: Path, tmp_path: Path, course_files: dict[str, Path]) -> None:
    """In one process, a re-import with other labels is searched from the new labels."""
    wh = DuckDBWarehouse(copy)
    explorer = Explorer(wh, catalog_ttl=0)
    before = explorer.image_search("Man", 1000)
    assert len(before.hits) > 10
    fewer = tmp_path / "labels.csv"
    lines = course_files["image_labels"].read_text().splitlines()
    fewer.write_text("\n".join(lines[:1] + lines[1::2]) + "\n")  # every other label
    import_files(wh, {**course_files, "image_labels": fewer})
    after = explorer.image_search("Man", 1000)
    wanted = statement_keys(wh, after.found[0].label_id, MIN_KEY, 1001, False)
    assert [image_key(h.image_id) for h in after.hits] == wanted[:1000]
    assert len(after.hits) < len(before.hits)
    wh.close()


def test_a_disk_that_cannot_take_them_leaves_the_statements(
    copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # fmt: skip
    from oie.warehouse import duckdb_adapter

    def full(*_args: object) -> int:
        raise OSError(28, "No space left on device")

    for name in SPECS:
        path_of(copy, name).unlink(missing_ok=True)
    monkeypatch.setattr(duckdb_adapter, "build_indexes", full)
    wh = DuckDBWarehouse(copy)
    assert wh.indexes() is None
    explorer = Explorer(wh)
    assert len(explorer.image_search("Man", 5).hits) == 5
    info = explorer.image_info(explorer.image_search("Man", 1).hits[0].image_id)
    assert info is not None and any(c.description == "Man" for c in info.classes)
    wh.close()
