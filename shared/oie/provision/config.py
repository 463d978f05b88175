"""What to provision (the command's options), checked before anything is contacted."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from .. import tables
from ..dataset.importer import ImportFailed, check_hierarchy
from ..dataset.sources import COURSE_FILES, HIERARCHY_FILE, Asset, demo_files, hierarchy_file
from ..settings import Settings

HOLD_SUFFIX = "-hold"  # the subscription that keeps dead letters
# The class hierarchy is staged as the CSV of its checked edges, made from its JSON.
HIERARCHY_CSV = Asset(tables.HIERARCHY, f"{tables.HIERARCHY}.csv", None)
STAGED_FILES: tuple[Asset, ...] = (*COURSE_FILES, HIERARCHY_CSV)

_PROJECT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")
_DATASET = re.compile(r"^[A-Za-z0-9_]{1,1024}$")
_PUBSUB_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9._~+%-]{2,254}$")
_LOCATION = re.compile(r"^[A-Za-z][A-Za-z0-9-]*$")


class ProvisionError(Exception):
    """Bad input, or a state provisioning cannot fix; the message says which."""


@dataclass(frozen=True)
class Config:
    """What to provision; the command's options."""

    project: str
    location: str
    bucket: str
    data_bucket: str
    dataset: str = "openimages"
    topic: str = "classify-requests"
    dead_letter_topic: str = "classify-requests-dead-letter"
    csv_dir: Path | None = None
    reload_data: bool = False

    @property
    def hold_subscription(self) -> str:
        return self.dead_letter_topic + HOLD_SUFFIX

    def validate(self) -> None:
        """Raise ProvisionError for names Google Cloud would refuse, before contacting it."""
        if not _PROJECT.match(self.project):
            raise ProvisionError(f"project {self.project!r} is not a project id")
        if not _LOCATION.match(self.location):
            raise ProvisionError(f"location {self.location!r} is not a region, e.g. us-central1")
        for name in (self.bucket, self.data_bucket):
            if not _BUCKET.match(name) or name.startswith("goog"):
                raise ProvisionError(f"bucket name {name!r} is not valid")
        if self.bucket == self.data_bucket:
            raise ProvisionError(
                "--bucket and --data-bucket must differ: uploads to --bucket are classified"
            )
        if not _DATASET.match(self.dataset):
            raise ProvisionError(f"dataset {self.dataset!r}: letters, digits and _ only")
        for name in (self.topic, self.dead_letter_topic, self.hold_subscription):
            if not _PUBSUB_NAME.match(name) or name.startswith("goog"):
                raise ProvisionError(f"Pub/Sub name {name!r} is not valid")
        if self.topic == self.dead_letter_topic:
            raise ProvisionError("--topic and --dead-letter-topic must differ")


def check_header(table: str, path: Path) -> None:
    """Raise ProvisionError unless `path` starts with the course CSV header of `table`."""
    want = ",".join(field["name"] for field in tables.spec(table).fields)
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            got = fh.readline(len(want) + 10).rstrip("\r\n")
    except UnicodeDecodeError:
        got = "(not UTF-8 text)"
    if got != want:
        raise ProvisionError(f"{path}: header {got!r}, expected {want!r} (course CSV format)")


def course_csvs(config: Config, settings: Settings) -> dict[str, Path]:
    """The files to stage by table: the course CSVs from --csv-dir, else OIE_ASSETS, else
    downloaded (sha256); and the class hierarchy's edges as a CSV, made from its JSON (in
    --csv-dir if it has one, else as for the demo)."""
    s = settings
    if config.csv_dir is not None:
        folder = config.csv_dir
        if not folder.is_dir():
            raise ProvisionError(f"--csv-dir {folder}: no such directory")
        missing = [a.name for a in COURSE_FILES if not (folder / a.name).is_file()]
        if missing:
            raise ProvisionError(f"--csv-dir {folder} lacks {', '.join(missing)}")
        files = {a.table: folder / a.name for a in COURSE_FILES}
        tree = folder / HIERARCHY_FILE.name
    else:
        found = demo_files(s.assets, s.data_dir / "downloads", s.data_url)
        files = {a.table: found[a.table] for a in COURSE_FILES}
        tree = found[HIERARCHY_FILE.table]
    for table, path in files.items():
        check_header(table, path)
    if not tree.is_file():  # --csv-dir without one: Open Images' own, as for the demo
        tree = hierarchy_file(s.assets, s.data_dir / "downloads")
    staging = s.data_dir / "staging"
    staging.mkdir(parents=True, exist_ok=True)
    try:
        files[HIERARCHY_CSV.table], _report = check_hierarchy(tree, staging)
    except ImportFailed as exc:
        raise ProvisionError(str(exc)) from None
    return files


def source_of(config: Config, asset: Asset, settings: Settings) -> str:
    """Where `course_csvs` takes the file of `asset` from, in words, contacting nothing."""
    if asset is HIERARCHY_CSV:
        own = config.csv_dir is not None and (config.csv_dir / HIERARCHY_FILE.name).is_file()
        json_file = source_of(config if own else replace(config, csv_dir=None), HIERARCHY_FILE,
                              settings)  # fmt: skip
        return f"the edges of {json_file}, checked, as CSV"
    if config.csv_dir is not None:
        return str(config.csv_dir / asset.name)
    s = settings
    if s.assets is not None:
        return str(s.assets / "openimages" / asset.name)
    base = s.data_url if s.data_url.endswith("/") else s.data_url + "/"
    check = ", sha256 checked" if asset.sha256 else ""
    return f"{asset.url or base + asset.name} (downloaded to {s.data_dir / 'downloads'}{check})"
