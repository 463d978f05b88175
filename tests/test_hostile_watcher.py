"""Odd files in the bucket folder, through the real watcher and runner over DuckDB: each
ends as exactly one row or one "file dropped" log line, and nothing is retried forever."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from oie.app import current
from oie.local.watcher import SETTLE_S, FolderWatcher
from oie.warehouse import WarehouseError
from tests.test_pipeline import rows

POLL_S = 0.1


@pytest.fixture
def bucket(demo_env: Path) -> Path:
    root = current().settings.bucket_folder
    root.mkdir(parents=True)
    return root


@pytest.fixture
def photos(assets: Path) -> dict[str, bytes]:
    return {n: (assets / "images" / f"{n}.jpg").read_bytes() for n in ("parrot", "hot_dog")}


@contextmanager
def watching(root: Path, **options: Any) -> Iterator[FolderWatcher]:
    app = current()
    runner = app.runner("tflite")
    watcher = FolderWatcher(root, app.settings.bucket, [runner.handle], interval=POLL_S,
                            **options).start()  # fmt: skip
    try:
        yield watcher
    finally:
        watcher.stop()


def wait_rows(count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (current().warehouse.row_count("classifications") or 0) >= count:
            return rows()
        time.sleep(0.1)
    raise AssertionError(f"fewer than {count} rows after {timeout} s")


def log_lines(capfd: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    out = []
    for line in capfd.readouterr().err.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            out.append(record)
    return out


def drops(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if str(r.get("message", "")).startswith("file dropped: ")]


def test_a_symlink_is_dropped_once_and_not_followed(
    bucket: Path, photos: dict[str, bytes], tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    outside = tmp_path / "secret.jpg"
    outside.write_bytes(photos["hot_dog"])
    (bucket / "link out.jpg").symlink_to(outside)
    (bucket / "real.jpg").write_bytes(photos["parrot"])
    (bucket / "link in.jpg").symlink_to(bucket / "real.jpg")
    with watching(bucket):
        wait_rows(1)
        time.sleep(2 * SETTLE_S)  # twenty more passes
    assert [r["object"] for r in rows()] == ["real.jpg"]
    records = log_lines(capfd)
    got = sorted((d["key"], d["reason"]) for d in drops(records))
    assert got == [("link in.jpg", "symlinks are not followed"),
                   ("link out.jpg", "symlinks are not followed")]  # fmt: skip
    assert [r for r in records if "link" in json.dumps(r) and r not in drops(records)] == []


def test_a_name_that_is_not_utf8_is_dropped_once(
    bucket: Path, photos: dict[str, bytes], capfd: pytest.CaptureFixture[str]
) -> None:
    raw = os.fsencode(bucket) + b"/caf\xe9 \xff.jpg"  # Latin-1, as an old camera names it
    with open(raw, "wb") as out:
        out.write(photos["parrot"])
    (bucket / "fine.jpg").write_bytes(photos["hot_dog"])
    with watching(bucket):
        wait_rows(1)
        time.sleep(2 * SETTLE_S)
    assert [r["object"] for r in rows()] == ["fine.jpg"]
    [drop] = drops(log_lines(capfd))
    assert drop["key"] == "caf\\xe9 \\xff.jpg" and "is not UTF-8" in drop["reason"]


def test_a_slow_writer_gets_one_row(
    bucket: Path, photos: dict[str, bytes], capfd: pytest.CaptureFixture[str]
) -> None:
    data = photos["parrot"]
    pause = 3 * POLL_S  # longer than a poll, shorter than SETTLE_S
    assert POLL_S < pause < SETTLE_S
    with watching(bucket):
        with open(bucket / "slow.jpg", "wb") as out:
            for start in range(0, len(data), len(data) // 5 + 1):
                out.write(data[start : start + len(data) // 5 + 1])
                out.flush()
                time.sleep(pause)
        wait_rows(1)
        time.sleep(2 * SETTLE_S)
    [row] = rows()
    assert row["status"] == "ok" and row["labels"][0]["label"] == "macaw"
    assert drops(log_lines(capfd)) == []


def test_a_replacement_with_the_old_mtime_is_classified_again(
    bucket: Path, photos: dict[str, bytes], tmp_path: Path
) -> None:
    path = bucket / "photo.jpg"
    path.write_bytes(photos["parrot"])
    old = os.stat(path)
    with watching(bucket):
        wait_rows(1)
        path.write_bytes(photos["hot_dog"])  # rewritten in place, as `cp -p` onto it does
        os.utime(path, ns=(old.st_atime_ns, old.st_mtime_ns))
        wait_rows(2)
        staged = tmp_path / "staged.jpg"  # replaced by a rename, mtime copied back
        staged.write_bytes(photos["parrot"])
        shutil.copystat(bucket / "photo.jpg", staged)
        os.replace(staged, path)
        assert os.stat(path).st_mtime_ns == old.st_mtime_ns
        found = wait_rows(3)
    labels = [r["labels"][0]["label"] for r in sorted(found, key=lambda r: r["classified_at"])]
    assert labels[0] == labels[2] == "macaw" and "hotdog" in labels[1]
    assert len({r["generation"] for r in found}) == 3


def test_a_transient_failure_is_retried_until_it_succeeds(
    bucket: Path, photos: dict[str, bytes], monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    runner = current().runner("tflite")
    append, failures = runner.warehouse.append, [3]

    def flaky(*args: Any, **kwargs: Any) -> Any:
        if failures[0]:
            failures[0] -= 1
            raise WarehouseError("warehouse unreachable for now")
        return append(*args, **kwargs)

    monkeypatch.setattr(runner.warehouse, "append", flaky)
    (bucket / "flaky.jpg").write_bytes(photos["parrot"])
    with watching(bucket, backoff=0.05):
        wait_rows(1)
        time.sleep(SETTLE_S)
    [row] = rows()
    assert row["object"] == "flaky.jpg" and row["status"] == "ok"
    records = log_lines(capfd)
    retries = [r for r in records if r["message"].startswith("classification failed")]
    assert len(retries) == 3 and [r["attempt"] for r in retries] == [1, 2, 3]
    assert drops(records) == []


def test_a_failure_that_never_ends_is_one_drop_after_the_cap(
    bucket: Path, photos: dict[str, bytes], monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    runner = current().runner("tflite")

    def down(*args: Any, **kwargs: Any) -> None:
        raise WarehouseError("warehouse unreachable")

    monkeypatch.setattr(runner.warehouse, "append", down)
    (bucket / "doomed.jpg").write_bytes(photos["parrot"])
    with watching(bucket, backoff=0.1, max_attempts=5):  # waits 0.1 + 0.2 + 0.4 + 0.8 s
        time.sleep(SETTLE_S + 3.0)
    records = log_lines(capfd)
    about = [r for r in records if "doomed.jpg" in r.get("key", "")]
    assert len(about) == 5, about  # four retries and one drop, not a line every pass
    [drop] = drops(records)
    assert drop["key"] == "doomed.jpg" and drop["attempts"] == 5
    assert drop["reason"] == "classification failed 5 times: warehouse unreachable"
    assert current().warehouse.row_count("classifications") in (None, 0)
