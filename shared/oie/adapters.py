"""The one place that picks an adapter for each port, from settings."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from . import settings as settings_mod
from .explore import Explorer
from .settings import Settings
from .warehouse import Warehouse

if TYPE_CHECKING:  # the query functions must not import Pillow, numpy or TFLite
    from .classify.classifier import Classifier
    from .classify.vision import VisionLabeler
    from .pipeline.runner import Runner
    from .storage import BlobStore


def make_warehouse(s: Settings) -> Warehouse:
    if s.warehouse == "duckdb":
        from .warehouse.duckdb_adapter import DuckDBWarehouse

        return DuckDBWarehouse(s.duckdb_file, memory_limit=s.duckdb_memory_limit)
    if s.warehouse == "bigquery":
        from .warehouse.bigquery_adapter import BigQueryWarehouse

        return BigQueryWarehouse(
            s.bq_project, s.bq_dataset, endpoint=s.bq_endpoint,
            max_bytes_billed=s.bq_max_bytes_billed or None, timeout_s=s.bq_timeout_s,
        )  # fmt: skip
    raise ValueError(f"OIE_WAREHOUSE={s.warehouse!r}: expected 'duckdb' or 'bigquery'")


@cache
def warehouse() -> Warehouse:
    """The process's warehouse client, made on first use and shared by every function."""
    return make_warehouse(settings_mod.get())


@cache
def explorer() -> Explorer:
    return Explorer(warehouse(), catalog_ttl=settings_mod.get().catalog_ttl_s)


@cache
def classifier() -> Classifier:
    """The TFLite classifier, loaded on first use (never by the query functions)."""
    from .classify.classifier import Classifier
    from .classify.model import load_spec
    from .classify.sources import model_path

    s = settings_mod.get()
    return Classifier(load_spec(model_path(s), s.model_labels))


@cache
def blobstore() -> BlobStore:
    """Cloud Storage when OIE_STORAGE=gcs (or an emulator is set), else the local folder."""
    s = settings_mod.get()
    if s.storage == "gcs":
        from .storage.gcs import GCSStore

        return GCSStore(s.bucket, s.bq_project)
    from .storage.folder import FolderStore

    return FolderStore(s.bucket_folder, s.bucket)


@cache
def runner(classifier_name: str) -> Runner:
    """The pipeline runner for one classifier ("tflite")."""
    from .pipeline.handlers import fetch
    from .pipeline.runner import Runner

    labelers = {"tflite": classifier, "vision": vision}
    if classifier_name not in labelers:
        raise ValueError(f"unknown classifier {classifier_name!r}; known: {sorted(labelers)}")
    return Runner(classifier_name, labelers[classifier_name], fetch, warehouse())


@cache
def vision() -> VisionLabeler:
    """Cloud Vision label detection (Application Default Credentials, or OIE_VISION_ENDPOINT)."""
    from .classify.vision import VisionLabeler

    return VisionLabeler()


def available_classifiers() -> list[str]:
    """The classifiers this stack can run: TFLite always, Vision with Google credentials."""
    from .classify.vision import credentials_available

    return ["tflite", "vision"] if credentials_available() else ["tflite"]


def reset() -> None:
    """Close and forget the clients (tests, and after an import in the same process)."""
    if warehouse.cache_info().currsize:
        close = getattr(warehouse(), "close", None)
        if close:
            close()
    from .classify import vision as vision_module

    vision_module.reset()  # its credentials lookup is cached per process
    for made in (explorer, warehouse, classifier, blobstore, runner, vision):
        made.cache_clear()
    settings_mod.get.cache_clear()
