"""The local stack end to end: `oie serve` classifies what is dropped into the bucket folder."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import duckdb
from click.testing import CliRunner

from oie.cli import main
from tests.support.servers import batch_of_files, free_port, running, serving_folder

OIE = Path(sys.executable).parent / "oie"


def results(base: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{base}/results?format=json&limit=1000", timeout=10) as r:
        return json.load(r)["results"]


def wait_for(base: str, count: int, timeout: float = 60.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = results(base)
        if len(found) >= count:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{len(found)} of {count} results after {timeout} s")


def raw_rows(db: Path) -> list[tuple]:
    """Every row as stored (no dedupe on read), once the stopped server's lock is gone."""
    deadline = time.monotonic() + 10
    while True:
        try:
            con = duckdb.connect(str(db), read_only=True)
            break
        except duckdb.IOException:  # a killed worker takes a moment to go
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    with con:
        return con.execute("SELECT request_key, classifier, status FROM classifications").fetchall()


def test_dropped_files_are_classified(demo_env: Path, assets: Path, tmp_path: Path) -> None:
    bucket = tmp_path / "data" / "bucket"
    bucket.mkdir(parents=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    shutil.copy(assets / "images" / "owl.jpg", bucket / "before start.jpg")  # waiting already
    with running([str(OIE), "serve", "--port", str(port)], base + "/"):
        photos = ["parrot.jpg", "hot_dog.jpg", "chelsea.png"]
        for name in photos:
            shutil.copy(assets / "images" / name, bucket / name)
        (bucket / "notes.jpg").write_text("not a photo")
        (bucket / "sub dir").mkdir()
        shutil.copy(assets / "images" / "parrot.jpg", bucket / "sub dir" / "parrot copy.jpg")
        found = wait_for(base, 6)
    by_object = {r["object"]: r for r in found}
    assert set(by_object) == {*photos, "notes.jpg", "before start.jpg", "sub dir/parrot copy.jpg"}
    assert by_object["parrot.jpg"]["labels"][0]["label"] == "macaw"
    assert by_object["sub dir/parrot copy.jpg"]["labels"][0]["label"] == "macaw"
    assert by_object["notes.jpg"]["status"] == "rejected"
    assert len(raw_rows(demo_env)) == 6


def test_a_crash_mid_batch_loses_nothing(demo_env: Path, assets: Path, tmp_path: Path) -> None:
    bucket = tmp_path / "data" / "bucket"
    bucket.mkdir(parents=True)
    photos = sorted((assets / "images").iterdir())
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [str(OIE), "serve", "--port", str(port)]
    with running(cmd, base + "/") as server:
        for i in range(60):
            shutil.copy(
                photos[i % len(photos)], bucket / f"batch-{i:03d}{photos[i % len(photos)].suffix}"
            )
        wait_for(base, 5)
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
    done_before = len(raw_rows(demo_env))
    assert done_before < 60, "the crash should come mid-batch"
    with running(cmd, base + "/"):
        wait_for(base, 60)
    keys = [(k, c) for k, c, _s in raw_rows(demo_env)]
    assert len(keys) == len(set(keys)) == 60


def test_publish_an_open_images_id(demo_env: Path, assets: Path, tmp_path: Path) -> None:
    served = tmp_path / "photos"
    served.mkdir()
    shutil.copy(assets / "images" / "parrot.jpg", served / "0f3ebab958f44f5f.jpg")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    runner = CliRunner()
    with serving_folder(served) as photos:
        env = {"OIE_IMAGE_URL_TEMPLATE": photos + "{image_id}.jpg"}
        with running([str(OIE), "serve", "--port", str(port)], base + "/", env=env):
            result = runner.invoke(
                main, ["publish", "--image-id", "0f3ebab958f44f5f", "--to", base]
            )
            assert result.exit_code == 0, result.output
            assert "classify_tflite: delivered" in result.output
            [row] = wait_for(base, 1)
    assert row["image_id"] == "0f3ebab958f44f5f" and row["labels"][0]["label"] == "macaw"
    bad = runner.invoke(main, ["publish", "--image-id", "xyz", "--to", base])
    assert bad.exit_code == 1 and "16 hexadecimal digits" in bad.output
    down = runner.invoke(main, ["publish", "--uri", "gs://b/o.jpg", "--to", base])
    assert down.exit_code == 1 and "is `oie serve` running?" in down.output
    assert runner.invoke(main, ["publish"]).exit_code == 2


def test_two_hundred_files_at_once(demo_env: Path, assets: Path, tmp_path: Path) -> None:
    bucket = tmp_path / "data" / "bucket"
    bucket.mkdir(parents=True)
    files = batch_of_files(sorted((assets / "images").iterdir()))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with running([str(OIE), "serve", "--port", str(port)], base + "/"):
        for name, data in files.items():
            (bucket / name).write_bytes(data)
        found = wait_for(base, len(files), timeout=120)
    assert len(found) == len(files) == 200
    status = {r["object"]: r["status"] for r in found}
    assert status == {n: "rejected" if n.startswith("junk") else "ok" for n in files}
    keys = [(k, c) for k, c, _s in raw_rows(demo_env)]
    assert len(keys) == len(set(keys)) == 200
