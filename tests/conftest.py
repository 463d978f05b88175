"""Shared fixtures: the assets folder, a DuckDB warehouse with the demo data, a client."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import pytest
from werkzeug.test import Client

from oie.app import App, current, install
from oie.dataset.importer import import_files
from oie.settings import Settings
from oie.warehouse.duckdb_adapter import DuckDBWarehouse

if TYPE_CHECKING:
    from tests.support.vision_fake import VisionFake

ROOT = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").lower() == "true"
F = TypeVar("F", bound=Callable[..., object])


def on_emulators(test: F) -> F:
    """Marks a test that runs on the Pub/Sub emulator, fake-gcs-server and bqemulator."""
    for mark in (pytest.mark.pubsub, pytest.mark.gcs, pytest.mark.bigquery):
        test = mark(test)
    return test


def pytest_configure(config: pytest.Config) -> None:
    """The run's data folder is its own (before anything reads a setting), so a stack
    running in the checkout, whose record is in data/, lends the tests none of its settings."""
    os.environ["OIE_DATA_DIR"] = tempfile.mkdtemp(prefix="oie-tests-")


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(os.environ.pop("OIE_DATA_DIR", ""), ignore_errors=True)


@pytest.fixture(autouse=True)
def own_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's data folder is its own."""
    monkeypatch.setenv("OIE_DATA_DIR", str(tmp_path / "data"))


def fresh_app() -> App:
    """A new app from the environment as the test set it, made the process's (what the
    functions' main.py use); the one it replaces is closed."""
    old = install(App(Settings.from_env()))
    if old is not None:
        old.close()
    return current()


def assets_dir() -> Path:
    configured = os.environ.get("OIE_ASSETS")
    path = Path(configured) if configured else ROOT.parent / "shared" / "assets"
    return path.resolve()


def need(tool_ok: bool, reason: str) -> None:
    """Skip when a tool is missing on a user's machine; in CI a missing tool is a failure."""
    if not tool_ok:
        if IN_CI:
            pytest.fail(f"{reason} (required when CI=true)")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def assets() -> Path:
    path = assets_dir()
    need((path / "openimages" / "classes.csv").is_file(), f"no assets at {path} (set OIE_ASSETS)")
    return path


@pytest.fixture(scope="session")
def course_files(assets: Path) -> dict[str, Path]:
    folder = assets / "openimages"
    return {
        "classes": folder / "classes.csv",
        "image_labels": folder / "image-labels.csv",
        "relations": folder / "relations.csv",
    }


def hierarchy_file(course_files: dict[str, Path]) -> Path:
    return course_files["classes"].parent / "bbox_labels_600_hierarchy.json"


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory, course_files: dict[str, Path]) -> Path:
    """A DuckDB file with the course CSVs imported by the project's importer."""
    path = tmp_path_factory.mktemp("warehouse") / "demo.duckdb"
    wh = DuckDBWarehouse(path)
    import_files(wh, {**course_files, "class_hierarchy": hierarchy_file(course_files)})
    wh.close()
    return path


@pytest.fixture
def demo_env(demo_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Settings pointing at a private copy of the demo warehouse."""
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(demo_db, copy)
    monkeypatch.setenv("OIE_WAREHOUSE", "duckdb")
    monkeypatch.setenv("OIE_DUCKDB_PATH", str(copy))
    monkeypatch.setenv("OIE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("OIE_BASE_URL", raising=False)
    monkeypatch.setenv("OIE_ASSETS", str(assets_dir()))
    fresh_app()
    yield copy
    fresh_app()


@pytest.fixture(scope="session")
def host_app():  # type: ignore[no-untyped-def]
    from oie.local.host import create_host

    return create_host()


@pytest.fixture
def client(demo_env: Path, host_app) -> Client:  # type: ignore[no-untyped-def]
    return Client(host_app)


@pytest.fixture
def no_adc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No endpoint, no ADC, and no way for google.auth to reach a metadata server."""
    from google.auth.compute_engine import _metadata

    for name in ("OIE_VISION_ENDPOINT", "GOOGLE_APPLICATION_CREDENTIALS", "GAE_ENV",
                 "SERVER_SOFTWARE", "GOOGLE_CLOUD_PROJECT"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "gcloud"
    config.mkdir()
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(config))  # no application_default_credentials
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:1")
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:1")
    # google.auth reads NO_GCE_CHECK and GCE_METADATA_HOST once, when _metadata is imported.
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    monkeypatch.setattr(_metadata, "_NO_GCE_CHECK", True)
    monkeypatch.setattr(_metadata, "_GCE_METADATA_HOST", "127.0.0.1:1")
    fresh_app()
    yield config
    fresh_app()


@pytest.fixture(scope="session")
def gcloud_ok() -> None:
    """The real gcloud and bq (Debian's google-cloud-cli), which judge deploy.sh."""
    need(shutil.which("gcloud") is not None and shutil.which("bq") is not None,
         "gcloud and bq missing (Debian's google-cloud-cli)")  # fmt: skip


@pytest.fixture
def vision(demo_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[VisionFake]:
    """The demo stack with Cloud Vision answered by the fake (real client, real wire)."""
    from tests.support.vision_fake import vision_fake  # Pillow: only for the tests using it

    with vision_fake() as running:
        monkeypatch.setenv("OIE_VISION_ENDPOINT", running.endpoint)
        fresh_app()
        yield running
    fresh_app()
