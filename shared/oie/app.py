"""The composition root: the one place that picks an adapter for each port, from one Settings.

An `App` holds a process's clients, each made on first use and then shared by every
function and thread. `current()` is the process's app, built once under a lock from
`settings.load()`; the functions' `main.py` hand it to the pages and handlers, which take
what they use from it. Tests and the CLI build their own (`install`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from . import settings as settings_mod
from .explore import Explorer
from .links import Links
from .settings import Settings
from .warehouse import Warehouse

if TYPE_CHECKING:  # the query functions must not import Pillow, numpy or TFLite
    from .classify.classifier import Classifier
    from .classify.vision import VisionLabeler
    from .pipeline.runner import Runner
    from .storage import BlobStore

T = TypeVar("T")
CLASSIFIERS = ("tflite", "vision")


def private_folder(path: Path, ours: bool) -> Path:
    """The local home's files are the user's alone: its folders are made 0700, so the DuckDB
    file, the bucket and its metadata inside are unreadable to others whatever their own
    modes. A folder that is `ours` (the data folder, the metadata beside the bucket) is
    tightened to 0700 if it exists; a folder the user named is left as it is."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if ours and path.stat().st_uid == os.getuid():
        path.chmod(0o700)
    return path


def make_warehouse(s: Settings) -> Warehouse:
    if s.warehouse == "duckdb":
        from .warehouse.duckdb_adapter import DuckDBWarehouse

        private_folder(s.duckdb_file.parent, ours=s.duckdb_path is None)
        return DuckDBWarehouse(s.duckdb_file, memory_limit=s.duckdb_memory_limit,
                               timeout_s=s.query_timeout_s or None)  # fmt: skip
    if s.warehouse == "bigquery":
        from .warehouse.bigquery_adapter import BigQueryWarehouse

        return BigQueryWarehouse(
            s.warehouse_project, s.bq_dataset, endpoint=s.bq_endpoint,
            max_bytes_billed=s.bq_max_bytes_billed or None, timeout_s=s.bq_timeout_s,
        )  # fmt: skip
    raise settings_mod.SettingError(
        f"OIE_WAREHOUSE={s.warehouse!r}: expected 'duckdb' or 'bigquery'"
    )


def make_blobstore(s: Settings) -> BlobStore:
    """Cloud Storage when OIE_STORAGE=gcs (or an emulator is set), else the local folder."""
    if s.storage == "gcs":
        from .storage.gcs import GCSStore

        return GCSStore(s.bucket, s.project)
    if s.storage == "folder":
        from .storage.folder import FolderStore

        store = FolderStore(s.bucket_folder, s.bucket)
        private_folder(store.root, ours=s.bucket_dir is None)
        private_folder(store.meta, ours=True)
        return store
    raise settings_mod.SettingError(f"OIE_STORAGE={s.storage!r}: expected 'folder' or 'gcs'")


class App:
    """One process's clients, made from `settings` on first use; thread-safe."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._lock = threading.Lock()  # guards the two dicts
        self._locks: dict[str, threading.Lock] = {}  # one per client: loading the model
        self._made: dict[str, Any] = {}  # does not hold up the first query

    @property
    def links(self) -> Links:
        return self._once("links", lambda: Links.of(self.settings))

    def _once(self, name: str, make: Callable[[], T]) -> T:
        """The client `name`, made exactly once however many threads ask for it first.
        Clients are made from others (a runner from the warehouse), never from themselves."""
        with self._lock:
            if name in self._made:
                return self._made[name]
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:
            with self._lock:
                if name in self._made:
                    return self._made[name]
            made = make()
            with self._lock:
                self._made[name] = made
            return made

    @property
    def warehouse(self) -> Warehouse:
        return self._once("warehouse", lambda: make_warehouse(self.settings))

    @property
    def explorer(self) -> Explorer:
        return self._once(
            "explorer", lambda: Explorer(self.warehouse, catalog_ttl=self.settings.catalog_ttl_s)
        )

    @property
    def blobstore(self) -> BlobStore:
        return self._once("blobstore", lambda: make_blobstore(self.settings))

    @property
    def classifier(self) -> Classifier:
        """The TFLite classifier, loaded on first use (never by the query functions)."""

        def make() -> Classifier:
            from .classify.classifier import Classifier
            from .classify.model import load_spec
            from .classify.sources import model_path

            return Classifier(load_spec(model_path(self.settings), self.settings.model_labels))

        return self._once("classifier", make)

    @property
    def vision(self) -> VisionLabeler:
        """Cloud Vision label detection (Application Default Credentials, or a fake)."""

        def make() -> VisionLabeler:
            from .classify.vision import VisionLabeler

            return VisionLabeler(self.settings.vision_endpoint)

        return self._once("vision", make)

    def labeler(self, classifier: str) -> Callable[[], Any]:
        """The labeler of a classifier, made when first called."""
        if classifier == "tflite":
            return lambda: self.classifier
        if classifier == "vision":
            return lambda: self.vision
        raise ValueError(f"unknown classifier {classifier!r}; known: {', '.join(CLASSIFIERS)}")

    def runner(self, classifier: str) -> Runner:
        """The pipeline runner for one classifier ("tflite" or "vision")."""
        labeler = self.labeler(classifier)

        def make() -> Runner:
            from .pipeline.runner import Runner, fetch

            source = partial(fetch, store=self.blobstore, image_url=self.links.image)
            return Runner(classifier, labeler, source, self.warehouse)

        return self._once(f"runner:{classifier}", make)

    def available_classifiers(self) -> list[str]:
        """The classifiers this stack can run: TFLite always, Vision with Google credentials."""
        from .classify.vision import credentials_available

        vision = credentials_available(self.settings.vision_endpoint)
        return list(CLASSIFIERS) if vision else ["tflite"]

    def close(self) -> None:
        """Close the clients that hold a connection (the DuckDB file)."""
        with self._lock:
            close = getattr(self._made.get("warehouse"), "close", None)
            self._made.clear()
        if close is not None:
            close()


_current: App | None = None
_current_lock = threading.Lock()


def current() -> App:
    """The process's app, built on first use from the environment and `.env`."""
    global _current
    with _current_lock:
        if _current is None:
            _current = App(settings_mod.load())
        return _current


def install(app: App | None) -> App | None:
    """Make `app` the process's (None: build anew on next use); returns the one replaced."""
    global _current
    with _current_lock:
        previous, _current = _current, app
    return previous
