"""Provision the explorer's data plane on Google Cloud, or on its emulators; safe to run again.

    python -m infra.provision --project P --location us-central1 [--bucket B] [--data-bucket D]
        [--dataset openimages] [--topic T] [--dead-letter-topic T-dead-letter]
        [--csv-dir DIR] [--reload-data] [--dry-run]

Creates what is missing, fixes the settings it owns on what exists, never deletes anything:

1. buckets --bucket (uploads there are classified) and --data-bucket (the CSVs BigQuery loads)
   in --location, with uniform bucket-level access on and public access prevention enforced;
2. Pub/Sub topics --topic and --dead-letter-topic, and the subscription DEAD_LETTER_TOPIC-hold
   on the latter (7 days' retention, never expires): a topic without one drops dead letters;
3. the BigQuery dataset --dataset in --location;
4. the tables of infra/schemas/*.json, and on existing tables the columns the JSON adds;
5. the course CSVs, staged as gs://DATA_BUCKET/openimages/NAME.csv unless the md5 matches;
6. classes, image_labels and relations loaded from there, unless they have rows already
   (--reload-data loads them again);
7. the derived tables (oie.tables.DERIVED), rebuilt after a load or when one is missing.

STORAGE_EMULATOR_HOST, PUBSUB_EMULATOR_HOST and OIE_BQ_ENDPOINT point the clients at emulators
(anonymous credentials); otherwise they use Application Default Credentials. IAM, service
accounts, the bucket notification and the functions are deploy.sh's business.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from oie import settings, tables
from oie.dataset.sources import COURSE_FILES, Asset, DownloadFailed, demo_files

if TYPE_CHECKING:
    from google.cloud import bigquery, pubsub_v1, storage

    from oie.warehouse.bigquery_adapter import BigQueryWarehouse

T = TypeVar("T")

DATA_PREFIX = "openimages/"  # the staged CSVs: gs://DATA_BUCKET/openimages/NAME.csv
HOLD_SUFFIX = "-hold"  # the subscription that keeps dead letters
HOLD_RETENTION_S = 7 * 24 * 3600  # Pub/Sub's maximum
ENFORCED = "enforced"
CHUNK = 1 << 20

_PROJECT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")
_DATASET = re.compile(r"^[A-Za-z0-9_]{1,1024}$")
_PUBSUB_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9._~+%-]{2,254}$")
_LOCATION = re.compile(r"^[A-Za-z][A-Za-z0-9-]*$")
# Spellings of one BigQuery type in the REST API (legacy) and in standard SQL.
_TYPE_ALIASES = {"STRUCT": "RECORD", "FLOAT64": "FLOAT", "INT64": "INTEGER", "BOOL": "BOOLEAN"}


class ProvisionError(Exception):
    """Bad input, or a state provisioning cannot fix; the message says which."""


@dataclass(frozen=True)
class Config:
    """What to provision; the CLI's options."""

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


@dataclass(frozen=True)
class Outcome:
    """What one step did to one resource."""

    kind: str  # bucket, topic, subscription, dataset, table, object
    name: str
    status: str  # created exists updated uploaded loaded kept derived planned
    message: str = ""  # the whole answer when set, e.g. "loaded 601 rows"
    rows: int | None = None

    def __str__(self) -> str:
        return f"{self.kind} {self.name}: {self.message or self.status}"


def _with(status: str, notes: list[str]) -> str:
    return f"{status} ({'; '.join(notes)})" if notes else status


# --- clients ------------------------------------------------------------------------------


def storage_client(project: str) -> storage.Client:
    """Cloud Storage; the client library itself honours STORAGE_EMULATOR_HOST."""
    from google.cloud import storage

    return storage.Client(project=project)


def warehouse(config: Config) -> BigQueryWarehouse:
    """BigQuery (its client, and `derive`), or the emulator at OIE_BQ_ENDPOINT."""
    from oie.warehouse.bigquery_adapter import BigQueryWarehouse

    return BigQueryWarehouse(config.project, config.dataset, endpoint=settings.load().bq_endpoint)


def endpoints() -> dict[str, str]:
    """Where each service is reached, for the dry run's header."""
    cloud = "Google Cloud (Application Default Credentials)"
    s = settings.load()
    return {
        "storage": s.storage_emulator or cloud,
        "pubsub": s.pubsub_emulator or cloud,
        "bigquery": s.bq_endpoint or cloud,
    }


# --- buckets ------------------------------------------------------------------------------


def bucket_fixes(bucket: storage.Bucket) -> list[str]:
    """The settings of ours that `bucket` lacks."""
    iam = bucket.iam_configuration
    fixes = []
    if not iam.uniform_bucket_level_access_enabled:
        fixes.append("uniform bucket-level access")
    if iam.public_access_prevention != ENFORCED:
        fixes.append("public access prevention")
    return fixes


def _secure(bucket: storage.Bucket) -> None:
    bucket.iam_configuration.uniform_bucket_level_access_enabled = True
    bucket.iam_configuration.public_access_prevention = ENFORCED


def ensure_bucket(client: storage.Client, name: str, location: str) -> Outcome:
    """Create the bucket, or turn on uniform access and public access prevention."""
    from google.api_core import exceptions

    label = f"gs://{name}"
    try:
        bucket = client.lookup_bucket(name)
    except exceptions.Forbidden as exc:
        raise ProvisionError(
            f"bucket {label}: 403 {exc.message} (bucket names are global: if it is another "
            "project's, choose another name; else grant storage.buckets.get)"
        ) from exc
    if bucket is None:
        bucket = client.bucket(name)
        _secure(bucket)
        try:
            client.create_bucket(bucket, location=location)
            return Outcome("bucket", label, "created", f"created in {location}")
        except exceptions.Conflict as exc:  # created meanwhile, or someone else's name
            bucket = client.lookup_bucket(name)
            if bucket is None:
                raise ProvisionError(f"bucket name {name} is taken: choose another") from exc
    notes = []
    if (bucket.location or "").upper() != location.upper():
        notes.append(f"in {bucket.location}, not {location}: a bucket cannot move")
    fixes = bucket_fixes(bucket)
    if not fixes:
        return Outcome("bucket", label, "exists", _with("exists", notes))
    _secure(bucket)
    bucket.patch()
    return Outcome("bucket", label, "updated", _with("updated", [", ".join(fixes), *notes]))


# --- Pub/Sub ------------------------------------------------------------------------------


def ensure_topic(publisher: pubsub_v1.PublisherClient, project: str, topic: str) -> Outcome:
    """Create the topic if missing."""
    from google.api_core import exceptions

    path = publisher.topic_path(project, topic)
    try:
        publisher.get_topic(topic=path)
        return Outcome("topic", path, "exists")
    except exceptions.NotFound:
        pass
    try:
        publisher.create_topic(name=path)
        return Outcome("topic", path, "created")
    except exceptions.AlreadyExists:
        return Outcome("topic", path, "exists")


def subscription_fixes(subscription: Any) -> dict[str, str]:
    """Fields of a hold subscription (a `pubsub_v1.types.Subscription`) to set: path -> why."""
    pb = type(subscription).pb(subscription)
    fixes = {}
    if pb.message_retention_duration.ToSeconds() != HOLD_RETENTION_S:
        fixes["message_retention_duration"] = "retention 7 days"
    if not pb.HasField("expiration_policy") or pb.expiration_policy.HasField("ttl"):
        fixes["expiration_policy"] = "never expires"  # the default: 31 days without a reader
    return fixes


def ensure_hold_subscription(
    subscriber: pubsub_v1.SubscriberClient, project: str, topic: str, name: str
) -> Outcome:
    """A pull subscription on the dead-letter topic keeping its messages for 7 days."""
    from google.api_core import exceptions
    from google.protobuf.duration_pb2 import Duration

    path = subscriber.subscription_path(project, name)
    topic_path = subscriber.topic_path(project, topic)
    wanted = {
        "name": path,
        "topic": topic_path,
        "message_retention_duration": Duration(seconds=HOLD_RETENTION_S),
        "expiration_policy": {},  # present without a ttl: never expires
    }
    try:
        current = subscriber.get_subscription(subscription=path)
    except exceptions.NotFound:
        try:
            subscriber.create_subscription(request=wanted)
            return Outcome("subscription", path, "created", "created (7 days' retention)")
        except exceptions.AlreadyExists:
            current = subscriber.get_subscription(subscription=path)
    if current.topic != topic_path:
        raise ProvisionError(
            f"subscription {path} is attached to {current.topic}, not {topic_path}: "
            "a subscription cannot change topic; delete it or choose another --dead-letter-topic"
        )
    fixes = subscription_fixes(current)
    if not fixes:
        return Outcome("subscription", path, "exists")
    subscriber.update_subscription(
        request={"subscription": wanted, "update_mask": {"paths": list(fixes)}}
    )
    return Outcome("subscription", path, "updated", _with("updated", list(fixes.values())))


# --- BigQuery -----------------------------------------------------------------------------


def ensure_dataset(client: bigquery.Client, project: str, dataset: str, location: str) -> Outcome:
    """Create the dataset in `location` if missing."""
    from google.api_core import exceptions
    from google.cloud import bigquery

    ref = f"{project}.{dataset}"
    try:
        found = client.get_dataset(ref)
        status = "exists"
    except exceptions.NotFound:
        want = bigquery.Dataset(ref)
        want.location = location
        want.description = "Open Images Explorer: the data set, and classifier results"
        try:
            found = client.create_dataset(want)
            status = "created"
        except exceptions.Conflict:
            found = client.get_dataset(ref)
            status = "exists"
    notes = []
    if (found.location or "").lower() != location.lower():
        notes.append(f"in {found.location}, not {location}: a dataset cannot move")
    return Outcome("dataset", ref, status, _with(status, notes))


def table_names() -> list[str]:
    """The tables that infra/schemas/*.json describe."""
    folder = tables.schema_file(tables.CLASSIFICATIONS).parent
    return sorted(path.stem for path in folder.glob("*.json"))


def table_resource(project: str, dataset: str, name: str) -> bigquery.Table:
    """The table as its JSON file describes it (schema, clustering, partitioning)."""
    from google.cloud import bigquery

    raw = json.loads(tables.schema_file(name).read_text())
    ref = {"projectId": project, "datasetId": dataset, "tableId": name}
    return bigquery.Table.from_api_repr({**raw, "tableReference": ref})


def _kind(field: dict[str, Any]) -> str:
    kind = str(field.get("type", "")).upper()
    mode = str(field.get("mode") or "NULLABLE").upper()
    return f"{mode} {_TYPE_ALIASES.get(kind, kind)}"


def merge_fields(
    have: list[dict[str, Any]], want: list[dict[str, Any]], prefix: str = ""
) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """`have` plus the fields of `want` it lacks, nested ones too: (fields, added, conflicts).

    Existing fields are kept as they are, extra ones included; a field whose type or mode
    differs is reported in `conflicts`, never changed. Names compare case-insensitively, as
    BigQuery's do.
    """
    merged = [dict(field) for field in have]
    index = {field["name"].lower(): i for i, field in enumerate(merged)}
    added: list[str] = []
    conflicts: list[str] = []
    for field in want:
        dotted = prefix + field["name"]
        i = index.get(field["name"].lower())
        if i is None:
            merged.append(field)
            added.append(dotted)
            continue
        old = merged[i]
        if _kind(old) != _kind(field):
            conflicts.append(f"{dotted} is {_kind(old)}, not {_kind(field)}: left as is")
        elif _kind(field).endswith("RECORD"):
            sub, sub_added, sub_conflicts = merge_fields(
                old.get("fields", []), field.get("fields", []), dotted + "."
            )
            if sub_added:
                merged[i] = {**old, "fields": sub}
            added += sub_added
            conflicts += sub_conflicts
    return merged, added, conflicts


def ensure_table(client: bigquery.Client, project: str, dataset: str, name: str) -> Outcome:
    """Create the table from its JSON, or add the columns it lacks (never drop, never retype)."""
    from google.api_core import exceptions
    from google.cloud import bigquery

    want = table_resource(project, dataset, name)
    label = f"{dataset}.{name}"
    try:
        have = client.get_table(want.reference)
    except exceptions.NotFound:
        try:
            client.create_table(want)
            return Outcome("table", label, "created")
        except exceptions.Conflict:
            have = client.get_table(want.reference)
    fields, added, notes = merge_fields(
        [f.to_api_repr() for f in have.schema], [f.to_api_repr() for f in want.schema]
    )
    if (have.clustering_fields or []) != (want.clustering_fields or []):
        notes.append(f"clustered by {have.clustering_fields}, not {want.clustering_fields}")
    if _partitioning(have) != _partitioning(want):
        notes.append(f"partitioned by {_partitioning(have)}, not {_partitioning(want)}")
    if not added:
        return Outcome("table", label, "exists", _with("exists", notes))
    have.schema = [bigquery.SchemaField.from_api_repr(f) for f in fields]
    client.update_table(have, ["schema"])  # with the etag read: a concurrent change fails
    return Outcome("table", label, "updated", _with("updated", [f"added {', '.join(added)}"]))


def _partitioning(table: bigquery.Table) -> str | None:
    part = table.time_partitioning
    return f"{part.type_} {part.field or '_PARTITIONTIME'}" if part else None


# --- data ---------------------------------------------------------------------------------


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


def csv_files(config: Config) -> dict[str, Path]:
    """The course CSVs by table: from --csv-dir, else OIE_ASSETS, else downloaded (sha256)."""
    if config.csv_dir is not None:
        folder = config.csv_dir
        if not folder.is_dir():
            raise ProvisionError(f"--csv-dir {folder}: no such directory")
        missing = [a.name for a in COURSE_FILES if not (folder / a.name).is_file()]
        if missing:
            raise ProvisionError(f"--csv-dir {folder} lacks {', '.join(missing)}")
        files = {a.table: folder / a.name for a in COURSE_FILES}
    else:
        s = settings.load()
        files = demo_files(s.assets, s.data_dir / "downloads", s.data_url)
    for table, path in files.items():
        check_header(table, path)
    return files


def md5_base64(path: Path) -> str:
    """The md5 of a file as Cloud Storage reports it (`md5Hash`)."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return base64.b64encode(digest.digest()).decode()


def stage_object(bucket: storage.Bucket, path: Path, name: str) -> Outcome:
    """Upload `path` as object `name` unless an object with the same md5 is there."""
    label = f"gs://{bucket.name}/{name}"
    blob = bucket.get_blob(name)
    if blob is not None and blob.md5_hash == md5_base64(path):
        return Outcome("object", label, "exists", "exists (same md5)")
    # The generation seen: a concurrent writer makes this fail instead of being overwritten.
    generation = blob.generation if blob is not None else 0
    bucket.blob(name).upload_from_filename(
        str(path), content_type="text/csv", if_generation_match=generation
    )
    size = path.stat().st_size
    if blob is None:
        return Outcome("object", label, "uploaded", f"uploaded ({size} bytes)")
    return Outcome("object", label, "updated", f"updated ({size} bytes, content changed)")


def load_table(
    client: bigquery.Client, project: str, dataset: str, table: str, uri: str, *,
    reload: bool = False, changed: bool = False,
) -> Outcome:  # fmt: skip
    """Load `uri` (a course CSV) into `table`, replacing its rows, unless it has rows."""
    from google.cloud import bigquery

    label = f"{dataset}.{table}"
    rows = client.get_table(f"{project}.{dataset}.{table}").num_rows or 0
    if rows and not reload:
        hint = "; its CSV changed: --reload-data loads it" if changed else ""
        return Outcome("table", label, "kept", f"kept ({rows} rows{hint})", rows)
    want = table_resource(project, dataset, table)
    config = bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.CSV,
        skip_leading_rows=1,
        schema=want.schema,
        clustering_fields=want.clustering_fields,
        time_partitioning=want.time_partitioning,
        write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
        allow_quoted_newlines=False,
    )
    job = client.load_table_from_uri(uri, want.reference, job_config=config)
    job.result()
    loaded = job.output_rows
    if loaded is None:
        loaded = client.get_table(want.reference).num_rows or 0
    return Outcome("table", label, "loaded", f"loaded {loaded} rows", loaded)


def _num_rows(client: bigquery.Client, ref: str) -> int | None:
    from google.api_core import exceptions

    try:
        return client.get_table(ref).num_rows or 0
    except exceptions.NotFound:
        return None


def derived_missing(client: bigquery.Client, project: str, dataset: str) -> bool:
    """Whether any derived table is missing."""
    refs = (f"{project}.{dataset}.{d.name}" for d in tables.DERIVED)
    return any(_num_rows(client, ref) is None for ref in refs)


def derive_table(wh: BigQueryWarehouse, derived: tables.Derived, *, rebuild: bool) -> Outcome:
    """Build one derived table from the loaded ones (CREATE OR REPLACE), or keep it."""
    label = f"{wh.dataset}.{derived.name}"
    ref = f"{wh.project}.{wh.dataset}.{derived.name}"
    if not rebuild:
        rows = _num_rows(wh.client, ref) or 0
        return Outcome("table", label, "kept", f"kept ({rows} rows)", rows)
    wh.derive(derived.name, derived.select, derived.order_by)
    rows = _num_rows(wh.client, ref) or 0
    return Outcome("table", label, "derived", f"derived ({rows} rows)", rows)


# --- the whole --------------------------------------------------------------------------


def _expected_errors() -> tuple[type[BaseException], ...]:
    from google.api_core.exceptions import GoogleAPIError
    from google.auth.exceptions import GoogleAuthError

    return (GoogleAPIError, GoogleAuthError, DownloadFailed, OSError)


def _describe(exc: BaseException) -> str:
    code, message = getattr(exc, "code", None), getattr(exc, "message", None)
    text = f"{code} {message}" if isinstance(code, int) and message else str(exc)
    return " ".join(text.split()) or type(exc).__name__


def provision(config: Config, report: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """Provision everything in order; return (and `report`, as they happen) the outcomes.

    Raises ProvisionError, naming the resource, for bad input and for the expected failures
    (access denied, not found, bad request, no credentials, failed download).
    """
    from google.cloud import pubsub_v1

    config.validate()
    expected = _expected_errors()
    outcomes: list[Outcome] = []

    def step(label: str, action: Callable[[], T]) -> T:
        try:
            return action()
        except expected as exc:
            raise ProvisionError(f"{label}: {_describe(exc)}") from exc

    def done(outcome: Outcome) -> Outcome:
        outcomes.append(outcome)
        if report is not None:
            report(outcome)
        return outcome

    p, ds, loc = config.project, config.dataset, config.location
    files = step("course CSVs", lambda: csv_files(config))  # bad input fails before any change

    gcs = step("storage client", lambda: storage_client(p))
    for b in (config.bucket, config.data_bucket):
        done(step(f"bucket gs://{b}", lambda b=b: ensure_bucket(gcs, b, loc)))

    hold, dead = config.hold_subscription, config.dead_letter_topic
    with (
        step("pubsub client", pubsub_v1.PublisherClient) as publisher,
        step("pubsub client", pubsub_v1.SubscriberClient) as subscriber,
    ):
        for t in (config.topic, dead):
            done(step(f"topic {t}", lambda t=t: ensure_topic(publisher, p, t)))
        done(step(f"subscription {hold}", lambda: ensure_hold_subscription(
            subscriber, p, dead, hold)))  # fmt: skip

    wh = warehouse(config)
    bq = step("bigquery client", lambda: wh.client)
    done(step(f"dataset {p}.{ds}", lambda: ensure_dataset(bq, p, ds, loc)))
    for name in table_names():
        done(step(f"table {ds}.{name}", lambda n=name: ensure_table(bq, p, ds, n)))

    data = gcs.bucket(config.data_bucket)
    changed = set()
    for a in COURSE_FILES:
        obj = DATA_PREFIX + a.name
        staged = step(f"object gs://{data.name}/{obj}",
                      lambda o=obj, f=files[a.table]: stage_object(data, f, o))  # fmt: skip
        if done(staged).status == "updated":
            changed.add(a.table)
    loaded = False
    for a in COURSE_FILES:
        uri = f"gs://{data.name}/{DATA_PREFIX}{a.name}"
        outcome = step(f"table {ds}.{a.table}", lambda t=a.table, u=uri: load_table(
            bq, p, ds, t, u, reload=config.reload_data, changed=t in changed))  # fmt: skip
        loaded |= done(outcome).status == "loaded"

    rebuild = loaded or step("derived tables", lambda: derived_missing(bq, p, ds))
    for d in tables.DERIVED:
        done(step(f"table {ds}.{d.name}", lambda d=d: derive_table(wh, d, rebuild=rebuild)))
    return outcomes


def plan(config: Config) -> list[Outcome]:
    """What `provision` would do, step by step, contacting nothing."""
    config.validate()
    p, ds, loc = config.project, config.dataset, config.location
    out = [
        Outcome("bucket", f"gs://{b}", "planned", f"create in {loc} if missing; uniform "
                "bucket-level access on, public access prevention enforced")
        for b in (config.bucket, config.data_bucket)
    ]  # fmt: skip
    out += [
        Outcome("topic", f"projects/{p}/topics/{t}", "planned", "create if missing")
        for t in (config.topic, config.dead_letter_topic)
    ]
    out.append(
        Outcome("subscription", f"projects/{p}/subscriptions/{config.hold_subscription}",
                "planned", f"create on topic {config.dead_letter_topic} if missing; 7 days' "
                "retention, never expires")
    )  # fmt: skip
    out.append(Outcome("dataset", f"{p}.{ds}", "planned", f"create in {loc} if missing"))
    out += [
        Outcome("table", f"{ds}.{name}", "planned",
                f"create from {tables.schema_file(name).name} if missing, else add the "
                "columns it lacks")
        for name in table_names()
    ]  # fmt: skip
    for asset in COURSE_FILES:
        object_name = f"gs://{config.data_bucket}/{DATA_PREFIX}{asset.name}"
        out.append(
            Outcome("object", object_name, "planned",
                    f"upload {_source(config, asset)} unless the same md5 is there")
        )  # fmt: skip
    when = "" if config.reload_data else " unless it has rows"
    out += [
        Outcome("table", f"{ds}.{a.table}", "planned",
                f"load gs://{config.data_bucket}/{DATA_PREFIX}{a.name}{when} (WRITE_TRUNCATE)")
        for a in COURSE_FILES
    ]  # fmt: skip
    out += [
        Outcome("table", f"{ds}.{d.name}", "planned", "derive after a load, or if one is missing")
        for d in tables.DERIVED
    ]
    return out


def _source(config: Config, asset: Asset) -> str:
    if config.csv_dir is not None:
        return str(config.csv_dir / asset.name)
    s = settings.load()
    if s.assets is not None:
        return str(s.assets / "openimages" / asset.name)
    base = s.data_url if s.data_url.endswith("/") else s.data_url + "/"
    check = ", sha256 checked" if asset.sha256 else ""
    return f"{base}{asset.name} (downloaded to {s.data_dir / 'downloads'}{check})"


# --- command line -------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # a ProvisionError: one line, exit code 1
        raise ProvisionError(f"{message} (see --help)")


def parser() -> argparse.ArgumentParser:
    env = os.environ.get
    ap = _Parser(
        prog="python -m infra.provision",
        description="Create or fix the buckets, topics, dataset, tables and data of the "
        "explorer on Google Cloud (or its emulators). Safe to run again; deletes nothing.",
    )
    ap.add_argument(
        "--project",
        default=env("GOOGLE_CLOUD_PROJECT", ""),
        help="project id (default: GOOGLE_CLOUD_PROJECT)",
    )
    ap.add_argument("--location", required=True, help="region, e.g. us-central1")
    ap.add_argument(
        "--bucket",
        default=env("OIE_BUCKET", ""),
        help="images bucket, uploads there are classified "
        "(default: OIE_BUCKET, else PROJECT-oie-images)",
    )
    ap.add_argument(
        "--data-bucket",
        default=env("OIE_DATA_BUCKET", ""),
        help="bucket of the CSVs BigQuery loads (default: OIE_DATA_BUCKET, else BUCKET-data)",
    )
    ap.add_argument(
        "--dataset",
        default=env("OIE_BQ_DATASET", "openimages"),
        help="BigQuery dataset (default: OIE_BQ_DATASET, else openimages)",
    )
    ap.add_argument(
        "--topic",
        default=env("OIE_TOPIC", "classify-requests"),
        help="topic of classify requests (default: OIE_TOPIC, else classify-requests)",
    )
    ap.add_argument(
        "--dead-letter-topic", default="", help="its dead-letter topic (default: TOPIC-dead-letter)"
    )
    ap.add_argument(
        "--csv-dir",
        type=Path,
        help="folder with classes.csv, image-labels.csv, relations.csv "
        "(default: OIE_ASSETS/openimages, else downloaded)",
    )
    ap.add_argument(
        "--reload-data",
        action="store_true",
        help="load the CSVs again even into tables that have rows",
    )
    ap.add_argument("--dry-run", action="store_true", help="print each step, contact nothing")
    return ap  # fmt: skip


def config_from(args: argparse.Namespace) -> Config:
    """The Config of parsed arguments, defaults filled in."""
    project = (args.project or "").strip()
    if not project:
        raise ProvisionError("no project: pass --project or set GOOGLE_CLOUD_PROJECT")
    bucket = args.bucket or f"{project}-oie-images"
    return Config(
        project=project,
        location=args.location,
        bucket=bucket,
        data_bucket=args.data_bucket or f"{bucket}-data",
        dataset=args.dataset,
        topic=args.topic,
        dead_letter_topic=args.dead_letter_topic or f"{args.topic}-dead-letter",
        csv_dir=args.csv_dir,
        reload_data=args.reload_data,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code (1 on an expected failure, with a one-line message)."""
    settings.load()  # reads .env into the environment, whose values are the defaults
    try:
        args = parser().parse_args(argv)
        config = config_from(args)
        if args.dry_run:
            print("# dry run, nothing contacted; " + ", ".join(
                f"{k}: {v}" for k, v in endpoints().items()))  # fmt: skip
            for outcome in plan(config):
                print(outcome)
            return 0
        provision(config, report=lambda outcome: print(outcome, flush=True))
    except ProvisionError as exc:
        print(f"provision: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
