"""Cloud Storage: the images bucket and the data bucket, and the course CSVs staged there."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from ..dataset.sources import Asset
from ..storage import UPLOAD_PREFIX, UPLOADS_KEPT_DAYS
from .config import ProvisionError, source_of
from .steps import Result, Run, Step, noted

if TYPE_CHECKING:
    from google.cloud import storage

DATA_PREFIX = "openimages/"  # the staged CSVs: gs://DATA_BUCKET/openimages/NAME.csv
ENFORCED = "enforced"
CHUNK = 1 << 20


def _expires_uploads(rule: object) -> bool:
    """Whether a lifecycle rule (a dict of the bucket resource) is ours."""
    return (
        isinstance(rule, dict)
        and rule.get("action", {}).get("type") == "Delete"
        and (rule.get("condition") == {"age": UPLOADS_KEPT_DAYS, "matchesPrefix": [UPLOAD_PREFIX]})
    )


def bucket_fixes(bucket: storage.Bucket, uploads: bool = False) -> list[str]:
    """The settings of ours that `bucket` lacks; `uploads`: it holds the uploads."""
    iam = bucket.iam_configuration
    fixes = []
    if not iam.uniform_bucket_level_access_enabled:
        fixes.append("uniform bucket-level access")
    if iam.public_access_prevention != ENFORCED:
        fixes.append("public access prevention")
    if uploads and not any(_expires_uploads(dict(r)) for r in bucket.lifecycle_rules):
        fixes.append(f"{UPLOAD_PREFIX} deleted after {UPLOADS_KEPT_DAYS} days")
    return fixes


def _secure(bucket: storage.Bucket, uploads: bool) -> None:
    bucket.iam_configuration.uniform_bucket_level_access_enabled = True
    bucket.iam_configuration.public_access_prevention = ENFORCED
    if uploads and not any(_expires_uploads(dict(r)) for r in bucket.lifecycle_rules):
        bucket.add_lifecycle_delete_rule(age=UPLOADS_KEPT_DAYS, matches_prefix=[UPLOAD_PREFIX])


def ensure_bucket(client: storage.Client, name: str, location: str, uploads: bool = False
                  ) -> Result:  # fmt: skip
    """Create the bucket, or turn on uniform access and public access prevention (and, for
    the bucket of `uploads`, their lifecycle rule); other lifecycle rules are kept."""
    from google.api_core import exceptions

    try:
        bucket = client.lookup_bucket(name)
    except exceptions.Forbidden as exc:
        raise ProvisionError(
            f"bucket gs://{name}: 403 {exc.message} (bucket names are global: if it is another "
            "project's, choose another name; else grant storage.buckets.get)"
        ) from exc
    if bucket is None:
        bucket = client.bucket(name)
        _secure(bucket, uploads)
        try:
            client.create_bucket(bucket, location=location)
            return Result("created", f"created in {location}")
        except exceptions.Conflict as exc:  # created meanwhile, or someone else's name
            bucket = client.lookup_bucket(name)
            if bucket is None:
                raise ProvisionError(f"bucket name {name} is taken: choose another") from exc
    notes = []
    if (bucket.location or "").upper() != location.upper():
        notes.append(f"in {bucket.location}, not {location}: a bucket cannot move")
    fixes = bucket_fixes(bucket, uploads)
    if not fixes:
        return noted("exists", notes)
    _secure(bucket, uploads)
    bucket.patch()
    return noted("updated", [", ".join(fixes), *notes])


def md5_base64(path: Path) -> str:
    """The md5 of a file as Cloud Storage reports it (`md5Hash`)."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return base64.b64encode(digest.digest()).decode()


def stage_object(bucket: storage.Bucket, path: Path, name: str) -> Result:
    """Upload `path` as object `name` unless an object with the same md5 is there."""
    blob = bucket.get_blob(name)
    if blob is not None and blob.md5_hash == md5_base64(path):
        return Result("exists", "exists (same md5)")
    # The generation seen: a concurrent writer makes this fail instead of being overwritten.
    generation = blob.generation if blob is not None else 0
    bucket.blob(name).upload_from_filename(
        str(path), content_type="text/csv", if_generation_match=generation
    )
    size = path.stat().st_size
    if blob is None:
        return Result("uploaded", f"uploaded ({size} bytes)")
    return Result("updated", f"updated ({size} bytes, content changed)")


def staged_uri(run: Run, asset: Asset) -> str:
    return f"gs://{run.config.data_bucket}/{DATA_PREFIX}{asset.name}"


def bucket_step(run: Run, name: str) -> Step:
    location = run.config.location
    uploads = name == run.config.bucket
    expiry = f"; {UPLOAD_PREFIX} deleted after {UPLOADS_KEPT_DAYS} days" if uploads else ""
    return Step(
        "bucket", f"gs://{name}",
        f"create in {location} if missing; uniform bucket-level access on, public access "
        f"prevention enforced{expiry}",
        lambda: ensure_bucket(run.clients.storage, name, location, uploads),
    )  # fmt: skip


def object_step(run: Run, asset: Asset) -> Step:
    """Stage the course CSV of `asset`; a replaced one is remembered for its table's load."""

    def apply() -> Result:
        bucket = run.clients.storage.bucket(run.config.data_bucket)
        done = stage_object(bucket, run.files[asset.table], DATA_PREFIX + asset.name)
        if done.status == "updated":
            run.changed.add(asset.table)
        return done

    source = source_of(run.config, asset, run.settings)
    return Step("object", staged_uri(run, asset),
                f"upload {source} unless the same md5 is there", apply)  # fmt: skip
