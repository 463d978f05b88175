"""Every setting of the project: read from the environment, in this module only.

`load()` applies, once, what the running local stack was started with (`stack.json` in the
data folder, written by `oie serve`), then the `.env` file (python-dotenv's rules); the
environment wins over both. So a command run in another shell uses the stack's model,
data and port. deploy.sh reads the same `.env` through `python -m oie.settings`, so both
see one set of values, quoted the same way.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

COURSE_DATA_URL = "https://storage.googleapis.com/bdcc_open_images_dataset/data/"
COURSE_IMAGE_URL = "https://storage.googleapis.com/bdcc_open_images_dataset/images/{image_id}.jpg"
ENV_FILE = ".env"  # OIE_ENV_FILE names another
STACK_FILE = "stack.json"  # in the data folder: the running local stack
N = TypeVar("N", int, float)


@dataclass(frozen=True)
class Settings:
    """Every knob of the project. Defaults run the local stack with no cloud account."""

    data_dir: Path = field(default_factory=lambda: Path("data"))
    # Folder holding openimages/, models/, images/ (e.g. ../shared/assets); None = download.
    assets: Path | None = None
    warehouse: str = "duckdb"  # duckdb | bigquery
    duckdb_path: Path | None = None
    duckdb_memory_limit: str = "1GB"
    # A DuckDB statement running longer is stopped (503); pages take milliseconds at full
    # scale (BENCHMARKS.md). 0 = no limit. BigQuery's counterpart is bq_timeout_s.
    query_timeout_s: float = 5.0
    project: str = ""  # GOOGLE_CLOUD_PROJECT: the project of Cloud Storage and Pub/Sub
    bq_project: str = ""  # BigQuery's project, when not `project`
    bq_dataset: str = "openimages"
    bq_endpoint: str = ""  # e.g. http://127.0.0.1:9050 for an emulator
    # A query billed for more is refused (503); see README "What a page costs".
    bq_max_bytes_billed: int = 500_000_000
    bq_timeout_s: float = 20.0  # a query's deadline, retries included
    # Emulators: the client libraries read these variables themselves; kept here so that
    # choosing a home and reporting where a service is reached read one object.
    storage_emulator: str = ""  # STORAGE_EMULATOR_HOST
    pubsub_emulator: str = ""  # PUBSUB_EMULATOR_HOST
    vision_endpoint: str = ""  # "" = Cloud Vision; http://host:port = a fake (no credentials)
    data_url: str = COURSE_DATA_URL
    image_url_template: str = COURSE_IMAGE_URL
    # A folder of <ImageId>.<ext> photos that pages show first, served by the local host.
    photos: Path | None = None
    base_url: str = ""  # prefix of links between functions ("" = same host)
    catalog_ttl_s: float = 300.0
    storage: str = "folder"  # folder | gcs
    events: str = "local"  # local | pubsub
    topic: str = "classify-requests"
    bucket: str = "local-bucket"
    data_bucket: str = ""  # provisioning: the bucket of the CSVs BigQuery loads ("" = BUCKET-data)
    bucket_dir: Path | None = None  # local stack: the folder standing for the bucket
    model: Path | None = None  # a .tflite file (AutoML export: model.tflite beside dict.txt)
    model_labels: Path | None = None  # labels file, when not embedded or beside the model
    functions_dir: Path | None = None  # functions/ of a checkout, when not found by itself
    port: int = 8080  # the local host's port (PORT)
    # Whether anyone may call the upload functions; deployed without --public-uploads they
    # are private, and the start page offers no form a browser could not send.
    uploads_public: bool = True

    @property
    def duckdb_file(self) -> Path:
        return self.duckdb_path or self.data_dir / "warehouse.duckdb"

    @property
    def bucket_folder(self) -> Path:
        return self.bucket_dir or self.data_dir / "bucket"

    @property
    def warehouse_project(self) -> str:
        return self.bq_project or self.project

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings of `environ` (default: the process environment), nothing else."""
        env = os.environ if environ is None else environ

        def get(name: str, default: str = "") -> str:
            return env.get(name, "").strip() or default

        def path(name: str) -> Path | None:
            value = get(name)
            return Path(value) if value else None

        def number(kind: type[N], name: str, default: N) -> N:
            raw = get(name)
            try:
                return kind(raw) if raw else default
            except ValueError:
                raise SettingError(f"{name}={raw!r} is not a number") from None

        def flag(name: str, default: bool) -> bool:
            raw = get(name).lower()
            if raw in ("", "true", "false"):
                return default if not raw else raw == "true"
            raise SettingError(f"{name}={raw!r}: expected true or false")

        storage_emulator = get("STORAGE_EMULATOR_HOST")
        pubsub_emulator = get("PUBSUB_EMULATOR_HOST")
        return cls(
            data_dir=Path(get("OIE_DATA_DIR", "data")),
            assets=path("OIE_ASSETS"),
            warehouse=get("OIE_WAREHOUSE", "duckdb").lower(),
            duckdb_path=path("OIE_DUCKDB_PATH"),
            duckdb_memory_limit=get("OIE_DUCKDB_MEMORY_LIMIT", "1GB"),
            query_timeout_s=number(float, "OIE_QUERY_TIMEOUT_S", 5.0),
            project=get("GOOGLE_CLOUD_PROJECT"),
            bq_project=get("OIE_BQ_PROJECT"),
            bq_dataset=get("OIE_BQ_DATASET", "openimages"),
            bq_endpoint=get("OIE_BQ_ENDPOINT"),
            bq_max_bytes_billed=number(int, "OIE_BQ_MAX_BYTES_BILLED", 500_000_000),
            bq_timeout_s=number(float, "OIE_BQ_TIMEOUT_S", 20.0),
            storage_emulator=storage_emulator,
            pubsub_emulator=pubsub_emulator,
            vision_endpoint=get("OIE_VISION_ENDPOINT"),
            data_url=get("OIE_DATA_URL", COURSE_DATA_URL),
            image_url_template=get("OIE_IMAGE_URL_TEMPLATE", COURSE_IMAGE_URL),
            photos=path("OIE_PHOTOS"),
            base_url=get("OIE_BASE_URL").rstrip("/"),
            catalog_ttl_s=number(float, "OIE_CATALOG_TTL_S", 300.0),
            storage=get("OIE_STORAGE", "gcs" if storage_emulator else "folder"),
            events=get("OIE_EVENTS", "pubsub" if pubsub_emulator else "local"),
            topic=get("OIE_TOPIC", "classify-requests"),
            bucket=get("OIE_BUCKET", "local-bucket"),
            data_bucket=get("OIE_DATA_BUCKET"),
            bucket_dir=path("OIE_BUCKET_DIR"),
            model=path("OIE_MODEL"),
            model_labels=path("OIE_MODEL_LABELS"),
            functions_dir=path("OIE_FUNCTIONS_DIR"),
            port=number(int, "PORT", 8080),
            uploads_public=flag("OIE_UPLOADS_PUBLIC", True),
        )


class SettingError(ValueError):
    """A setting with a value that cannot be used."""


def env_file(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env.get("OIE_ENV_FILE", "").strip() or ENV_FILE)


def env_file_values(path: Path) -> dict[str, str]:
    """The `KEY=value` pairs of a .env file, by python-dotenv's rules ({} without a file)."""
    if not path.is_file():
        return {}
    from dotenv import dotenv_values  # only a checkout has a .env; bundles need not ship it

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


_loaded = threading.Lock()
_applied: list[Path] = []


def load() -> Settings:
    """The process's settings: the running stack's and `.env` applied to the environment
    (once, the environment winning), then read."""
    with _loaded:
        if not _applied:
            path = env_file()
            from_file = env_file_values(path)
            data_dir = Path(os.environ.get("OIE_DATA_DIR", "").strip()
                            or from_file.get("OIE_DATA_DIR", "").strip() or "data")  # fmt: skip
            stack = running_stack(data_dir)
            for key, value in {**from_file, **(stack.env if stack else {})}.items():
                os.environ.setdefault(key, value)
            _applied.append(path)
    return Settings.from_env()


@dataclass(frozen=True)
class Stack:
    """A running local stack: where it listens, its process, the variables it was started
    with (every OIE_* one, and PORT)."""

    url: str
    pid: int
    env: dict[str, str]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True


def running_stack(data_dir: Path) -> Stack | None:
    """The stack recorded in `data_dir`, if its process still runs."""
    try:
        raw = json.loads((data_dir / STACK_FILE).read_text(encoding="utf-8"))
        stack = Stack(str(raw["url"]), int(raw["pid"]),
                      {str(k): str(v) for k, v in dict(raw["env"]).items()})  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return stack if _alive(stack.pid) else None


def record_stack(settings: Settings, host: str, port: int) -> Path:
    """Write this process down as the running stack of `settings.data_dir`."""
    env = {k: v for k, v in os.environ.items() if k.startswith("OIE_") or k == "PORT"}
    env["PORT"] = str(port)
    shown = "127.0.0.1" if host in ("", "0.0.0.0") else host  # what a client connects to
    body = {"url": f"http://{shown}:{port}", "pid": os.getpid(), "env": env}
    target = settings.data_dir / STACK_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{STACK_FILE}.{os.getpid()}")
    partial.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    partial.replace(target)
    return target


def forget_stack(settings: Settings) -> None:
    """Remove this process's record (another process's is left alone)."""
    found = running_stack(settings.data_dir)
    if found is not None and found.pid == os.getpid():
        (settings.data_dir / STACK_FILE).unlink(missing_ok=True)


def shell_exports(path: Path, environ: Mapping[str, str] | None = None) -> str:
    """`export KEY=value` lines, shell-quoted, for what `path` sets and `environ` does not."""
    env = os.environ if environ is None else environ
    lines = [
        f"export {key}={shlex.quote(value)}"
        for key, value in env_file_values(path).items()
        if key.isidentifier() and not env.get(key)
    ]
    return "".join(line + "\n" for line in lines)


if __name__ == "__main__":  # python -m oie.settings exports [FILE]: for deploy.sh's `eval`
    if len(sys.argv) not in (2, 3) or sys.argv[1] != "exports":
        sys.exit("usage: python -m oie.settings exports [ENV_FILE]")
    sys.stdout.write(shell_exports(Path(sys.argv[2]) if len(sys.argv) == 3 else env_file()))
