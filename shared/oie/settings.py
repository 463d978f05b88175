"""Settings, read once from the environment (and an optional `.env` file)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

COURSE_DATA_URL = "https://storage.googleapis.com/bdcc_open_images_dataset/data/"
COURSE_IMAGE_URL = "https://storage.googleapis.com/bdcc_open_images_dataset/images/{image_id}.jpg"


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, "").strip() or default


@dataclass(frozen=True)
class Settings:
    """Every knob of the project. Defaults run the local stack with no cloud account."""

    data_dir: Path = field(default_factory=lambda: Path("data"))
    # Folder holding openimages/, models/, images/ (e.g. ../shared/assets); None = download.
    assets: Path | None = None
    warehouse: str = "duckdb"  # duckdb | bigquery
    duckdb_path: Path | None = None
    duckdb_memory_limit: str = "1GB"
    bq_project: str = ""
    bq_dataset: str = "openimages"
    bq_endpoint: str = ""  # e.g. http://127.0.0.1:9050 for an emulator
    # A query billed for more is refused (503); see README "What a page costs".
    bq_max_bytes_billed: int = 500_000_000
    bq_timeout_s: float = 20.0  # a query's deadline, retries included
    data_url: str = COURSE_DATA_URL
    image_url_template: str = COURSE_IMAGE_URL
    base_url: str = ""  # prefix of links between functions ("" = same host)
    catalog_ttl_s: float = 300.0
    storage: str = "folder"  # folder | gcs
    events: str = "local"  # local | pubsub
    topic: str = "classify-requests"
    bucket: str = "local-bucket"
    bucket_dir: Path | None = None  # local stack: the folder standing for the bucket
    model: Path | None = None  # a .tflite file (AutoML export: model.tflite beside dict.txt)
    model_labels: Path | None = None  # labels file, when not embedded or beside the model

    @property
    def duckdb_file(self) -> Path:
        return self.duckdb_path or self.data_dir / "warehouse.duckdb"

    @property
    def bucket_folder(self) -> Path:
        return self.bucket_dir or self.data_dir / "bucket"

    def image_url(self, image_id: str) -> str:
        return self.image_url_template.replace("{image_id}", image_id)


def _path(value: str) -> Path | None:
    return Path(value) if value else None


def from_env() -> Settings:
    assets = _env("OIE_ASSETS")
    duckdb_path = _env("OIE_DUCKDB_PATH")
    return Settings(
        data_dir=Path(_env("OIE_DATA_DIR", "data")),
        assets=Path(assets) if assets else None,
        warehouse=_env("OIE_WAREHOUSE", "duckdb").lower(),
        duckdb_path=Path(duckdb_path) if duckdb_path else None,
        duckdb_memory_limit=_env("OIE_DUCKDB_MEMORY_LIMIT", "1GB"),
        bq_project=_env("OIE_BQ_PROJECT", _env("GOOGLE_CLOUD_PROJECT")),
        bq_dataset=_env("OIE_BQ_DATASET", "openimages"),
        bq_endpoint=_env("OIE_BQ_ENDPOINT"),
        bq_max_bytes_billed=int(_env("OIE_BQ_MAX_BYTES_BILLED", "500000000")),
        bq_timeout_s=float(_env("OIE_BQ_TIMEOUT_S", "20")),
        data_url=_env("OIE_DATA_URL", COURSE_DATA_URL),
        image_url_template=_env("OIE_IMAGE_URL_TEMPLATE", COURSE_IMAGE_URL),
        base_url=_env("OIE_BASE_URL").rstrip("/"),
        catalog_ttl_s=float(_env("OIE_CATALOG_TTL_S", "300")),
        storage=_env("OIE_STORAGE", "gcs" if _env("STORAGE_EMULATOR_HOST") else "folder"),
        events=_env("OIE_EVENTS", "pubsub" if _env("PUBSUB_EMULATOR_HOST") else "local"),
        topic=_env("OIE_TOPIC", "classify-requests"),
        bucket=_env("OIE_BUCKET", "local-bucket"),
        bucket_dir=_path(_env("OIE_BUCKET_DIR")),
        model=_path(_env("OIE_MODEL")),
        model_labels=_path(_env("OIE_MODEL_LABELS")),
    )


@cache
def get() -> Settings:
    """The process-wide settings; tests call `get.cache_clear()` after changing the env."""
    load_dotenv(Path(".env"))
    return from_env()


def load_dotenv(path: Path) -> None:
    """Set `KEY=value` lines of `path` that the environment does not already set."""
    if not path.is_file():
        return
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        os.environ.setdefault(key.strip(), value.strip().strip("'\""))
