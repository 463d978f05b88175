"""deploy.sh: what --dry-run would do on Google Cloud, checked command by command.

`gcloud` and `bq` on PATH are replaced by stand-ins that record any call and fail, so a
dry run that ran a cloud command would be caught.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from oie import manifest
from tests.conftest import need

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.deploy
PROJECT, REGION = "oie-demo-4711", "europe-west1"
BUCKET = f"{PROJECT}-oie-images"
FUNCTIONS = tuple(f.name for f in manifest.load(ROOT / "functions"))
EVENT_FUNCTIONS = tuple(f.name for f in manifest.load(ROOT / "functions") if f.kind == "event")
# Who runs each function, and who may call it: the least-privilege design under test.
QUERY = ("index", "classes", "relations", "image_info", "image_search",
         "image_search_multiple", "relation_search", "image_classify_classes",
         "suggest", "class_info")  # fmt: skip
PRIVATE = ("results", "image_classify", "label_detection")
ACCOUNT = {name: "query" for name in QUERY} | {
    "results": "results",
    "image_classify": "upload",
    "label_detection": "upload",
    "classify_tflite": "classifier",
    "classify_vision": "classifier",
}
WITH_MODEL = ("image_classify", "image_classify_classes", "classify_tflite")


def sa(role: str) -> str:
    return f"oie-{role}@{PROJECT}.iam.gserviceaccount.com"


@dataclass
class Run:
    code: int
    out: str
    err: str
    cloud_calls: list[str]

    @property
    def commands(self) -> list[list[str]]:
        """Every command printed with `+ `, split as the shell would (quotes may span lines)."""
        found, pending = [], None
        for line in self.out.splitlines():
            if pending is None and not line.startswith("+ "):
                continue
            pending = line[2:] if pending is None else f"{pending}\n{line}"
            try:
                found.append(shlex.split(pending))
            except ValueError:  # an open quote: the command goes on
                continue
            pending = None
        return found

    def find(self, *prefix: str) -> list[list[str]]:
        return [c for c in self.commands if c[: len(prefix)] == list(prefix)]


def flags(command: list[str]) -> dict[str, str]:
    """`--name=value` and bare `--name` (value "") of one command."""
    out = {}
    for arg in command:
        if arg.startswith("--"):
            name, _, value = arg[2:].partition("=")
            out[name] = value
    return out


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bin folder whose gcloud and bq record their arguments and fail."""
    folder = tmp_path_factory.mktemp("bin")
    for tool in ("gcloud", "bq"):
        path = folder / tool
        path.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{folder}/calls"\nexit 97\n')
        path.chmod(0o755)
    return folder


@pytest.fixture(scope="module")
def deploy(stand_ins: Path, assets: Path, tmp_path_factory: pytest.TempPathFactory):
    build = tmp_path_factory.mktemp("build")

    def run(*args: str, **env: str) -> Run:
        calls = stand_ins / "calls"
        calls.unlink(missing_ok=True)
        full_env = {
            "PATH": f"{stand_ins}:{os.environ['PATH']}",
            "HOME": os.environ.get("HOME", "/tmp"),
            "GOOGLE_CLOUD_PROJECT": PROJECT,
            "OIE_REGION": REGION,
            "OIE_ASSETS": str(assets),
            "OIE_BUILD_DIR": str(build),
            "OIE_ENV_FILE": str(build / "no.env"),
            "OIE_PYTHON": str(ROOT / ".venv" / "bin" / "python"),
        } | env
        full_env = {k: v for k, v in full_env.items() if v}
        done = subprocess.run(["bash", str(ROOT / "deploy.sh"), *args], env=full_env,
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        recorded = calls.read_text().splitlines() if calls.exists() else []
        return Run(done.returncode, done.stdout, done.stderr, recorded)

    run.build = build  # type: ignore[attr-defined]
    return run


@pytest.fixture(scope="module")
def dry(deploy) -> Run:
    done = deploy("--dry-run")
    assert done.code == 0, done.err
    return done


def test_dry_run_runs_no_cloud_command(dry: Run) -> None:
    assert dry.cloud_calls == []
    assert dry.commands, "a dry run prints the commands it would run"


@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_function_is_deployed_as_designed(dry: Run, deploy, name: str) -> None:
    (command,) = dry.find("gcloud", "functions", "deploy", name)
    f = flags(command)
    assert "gen2" in f and f["runtime"] == "python312"
    assert f["entry-point"] == name and f["region"] == REGION and f["project"] == PROJECT
    assert f["source"] == str(deploy.build / name)
    assert f["service-account"] == sa(ACCOUNT[name])
    assert f["build-service-account"] == f"projects/{PROJECT}/serviceAccounts/{sa('builder')}"
    assert int(f["max-instances"]) >= 1 and int(f["cpu"]) >= 1
    env = dict(kv.split("=", 1) for kv in f["set-env-vars"].split(","))
    assert env["OIE_WAREHOUSE"] == "bigquery" and env["OIE_BQ_PROJECT"] == PROJECT
    assert env["OIE_BUCKET"] == BUCKET and env["OIE_STORAGE"] == "gcs"
    # gunicorn's threads match the instance's concurrency (and the interpreters it keeps)
    assert env["THREADS"] == f["concurrency"]
    assert ("OIE_MODEL" in env) == (name in WITH_MODEL)
    if name in EVENT_FUNCTIONS:
        assert f["trigger-topic"] == "classify-requests" and "retry" in f
        assert f["trigger-service-account"] == sa("classifier")
        assert "trigger-http" not in f
    else:
        assert "trigger-http" in f and "retry" not in f and "trigger-topic" not in f
        public = "allow-unauthenticated" in f
        assert public != ("no-allow-unauthenticated" in f)
        assert public == (name not in PRIVATE)


def test_tflite_functions_get_memory_for_one_interpreter_per_thread(dry: Run) -> None:
    for name in ("classify_tflite", "image_classify"):
        (command,) = dry.find("gcloud", "functions", "deploy", name)
        f = flags(command)
        assert f["memory"] in ("1Gi", "2Gi") and int(f["concurrency"]) <= 8


def test_public_uploads_flag_opens_the_upload_functions(deploy) -> None:
    done = deploy("--dry-run", "--public-uploads", "--only", "image_classify")
    assert done.code == 0, done.err
    (command,) = done.find("gcloud", "functions", "deploy", "image_classify")
    assert "allow-unauthenticated" in flags(command)


def test_bucket_notification_sends_finalize_events_to_the_topic(dry: Run) -> None:
    (command,) = dry.find("gcloud", "storage", "buckets", "notifications", "create")
    assert command[5] == f"gs://{BUCKET}"
    f = flags(command)
    assert f["topic"] == f"projects/{PROJECT}/topics/classify-requests"
    assert f["event-types"] == "OBJECT_FINALIZE" and f["payload-format"] == "json"
    grants = dry.find("gcloud", "pubsub", "topics", "add-iam-policy-binding", "classify-requests")
    assert any("gs-project-accounts" in flags(g)["member"] for g in grants), (
        "the Cloud Storage service agent must be allowed to publish to the topic"
    )


def test_classifier_triggers_get_a_dead_letter_topic(dry: Run) -> None:
    updates = dry.find("gcloud", "pubsub", "subscriptions", "update")
    assert {u[4] for u in updates} == {f"SUBSCRIPTION_OF_{n}" for n in EVENT_FUNCTIONS}
    for update in updates:
        assert flags(update)["dead-letter-topic"] == "classify-requests-dead-letter"
    invokers = dry.find("gcloud", "functions", "add-invoker-policy-binding")
    assert {c[3] for c in invokers} == set(EVENT_FUNCTIONS)


def test_service_accounts_least_privilege_and_no_keys(dry: Run) -> None:
    created = {c[4] for c in dry.find("gcloud", "iam", "service-accounts", "create")}
    assert created == {"oie-query", "oie-results", "oie-upload", "oie-classifier", "oie-builder"}
    assert not any("keys" in c for c in dry.commands)
    project_roles = {
        (flags(c)["member"], flags(c)["role"])
        for c in dry.find("gcloud", "projects", "add-iam-policy-binding")
    }
    builder = {"roles/logging.logWriter", "roles/artifactregistry.writer",
               "roles/storage.objectViewer"}  # fmt: skip
    assert project_roles == {
        (f"serviceAccount:{sa(r)}", "roles/bigquery.jobUser")
        for r in ("query", "results", "classifier")
    } | {(f"serviceAccount:{sa('builder')}", role) for role in builder}
    # The build identity reaches the functions' images and sources only, never every bucket.
    conditions = {
        flags(c)["role"]: flags(c)["condition"]
        for c in dry.find("gcloud", "projects", "add-iam-policy-binding")
        if sa("builder") in flags(c)["member"]
    }
    assert conditions["roles/logging.logWriter"] == "None"
    images = f'projects/{PROJECT}/locations/{REGION}/repositories/gcf-artifacts"'
    assert images in conditions["roles/artifactregistry.writer"]
    assert 'projects/_/buckets/gcf-v2-sources-"' in conditions["roles/storage.objectViewer"]
    bucket_roles = {
        (flags(c)["member"].split(":")[1], flags(c)["role"])
        for c in dry.find("gcloud", "storage", "buckets", "add-iam-policy-binding")
    }
    assert bucket_roles == {
        (sa("upload"), "roles/storage.objectCreator"),
        (sa("results"), "roles/storage.objectViewer"),
        (sa("classifier"), "roles/storage.objectViewer"),
    }
    (grant,) = dry.find("bq", "query")
    dcl = " ".join(grant[-1].split())
    assert f"GRANT `roles/bigquery.dataViewer` ON SCHEMA `{PROJECT}.openimages`" in dcl
    editors = re.search(r"dataEditor` ON TABLE `[^`]+\.classifications` TO ([^;]+);", dcl)
    assert editors and editors.group(1).strip() == f"'serviceAccount:{sa('classifier')}'"
    assert sa("upload") not in dcl, "the upload functions never read the dataset"


def test_provisioning_is_part_of_the_dry_run(dry: Run) -> None:
    (command,) = [c for c in dry.commands if c[1:3] == ["-m", "infra.provision"]]
    f = flags(command)
    assert f["project"] == PROJECT and f["location"] == REGION and f["bucket"] == BUCKET
    assert "dry-run" not in f, "printed as it would run for real"


def test_a_dry_run_needs_no_model(dry: Run, deploy) -> None:
    assert not (deploy.build / "image_classify" / "model").exists()
    assert "+ build_model" in dry.out  # said, not done


def test_bundles_hold_what_each_function_needs(deploy) -> None:
    done = deploy("build")
    assert done.code == 0, done.err
    for name in FUNCTIONS:
        bundle = deploy.build / name
        assert (bundle / "main.py").read_text() == (
            ROOT / "functions" / name / "main.py"
        ).read_text()
        assert (bundle / "requirements.txt").is_file()
        assert (bundle / "oie" / "__init__.py").is_file() and not (
            bundle / "oie" / "local"
        ).exists()
        schemas = sorted(p.name for p in (bundle / "oie" / "schemas").glob("*.json"))
        assert schemas == sorted(p.name for p in (ROOT / "infra" / "schemas").glob("*.json"))
        assert (bundle / "model" / "model.tflite").is_file() == (name in WITH_MODEL)
        assert not list(bundle.rglob("__pycache__"))


def test_only_deploys_one_function(deploy) -> None:
    done = deploy("--dry-run", "--only", "classes")
    assert done.code == 0, done.err
    deployed = [c[3] for c in done.find("gcloud", "functions", "deploy")]
    assert deployed == ["classes"]


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (("--only", "nope"), {}, "--only nope: no such function"),
        (("--only",), {}, "--only needs a function name"),
        (("--frobnicate",), {}, "unknown argument: --frobnicate"),
        ((), {"GOOGLE_CLOUD_PROJECT": ""}, "set GOOGLE_CLOUD_PROJECT"),
        ((), {"GOOGLE_CLOUD_PROJECT": "Bad_Project"}, "is not a project id"),
    ],
)
def test_bad_input_is_refused_before_anything_runs(deploy, args, env, message) -> None:
    done = deploy("--dry-run", *args, **env)
    assert done.code == 2 and message in done.err
    assert done.cloud_calls == [] and "Traceback" not in done.err


def test_settings_come_from_env_file_and_the_environment_wins(deploy, tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "# deploy settings\nGOOGLE_CLOUD_PROJECT=from-dotenv-1\nOIE_BUCKET='dotenv-bucket'\n"
        "OIE_REGION=asia-east1\n"
    )
    done = deploy("--dry-run", "--only", "classes", GOOGLE_CLOUD_PROJECT="", OIE_REGION="",
                  OIE_ENV_FILE=str(env_file))  # fmt: skip
    assert done.code == 0, done.err
    (command,) = done.find("gcloud", "functions", "deploy", "classes")
    f = flags(command)
    assert f["project"] == "from-dotenv-1" and f["region"] == "asia-east1"
    assert "OIE_BUCKET=dotenv-bucket" in f["set-env-vars"]
    done = deploy("--dry-run", "--only", "classes", OIE_ENV_FILE=str(env_file))
    (command,) = done.find("gcloud", "functions", "deploy", "classes")
    assert flags(command)["project"] == PROJECT and flags(command)["region"] == REGION


def test_teardown_keeps_the_data_unless_asked(deploy) -> None:
    done = deploy("teardown", "--dry-run")
    assert done.code == 0 and done.cloud_calls == []
    deleted = {c[3] for c in done.find("gcloud", "functions", "delete")}
    assert deleted == set(FUNCTIONS)
    assert done.find("gcloud", "pubsub", "topics", "delete")
    assert len(done.find("gcloud", "iam", "service-accounts", "delete")) == 5
    removed = done.find("gcloud", "storage", "rm")
    assert not [c for c in removed if f"gs://{BUCKET}" in c] and not done.find("bq", "rm")
    assert f"kept: gs://{BUCKET}" in done.out
    # what each function's build left: its source object and its image
    assert {c[3] for c in removed} == {f"gs://SOURCES_BUCKET/SOURCE_OF_{n}" for n in FUNCTIONS}
    images = {c[5] for c in done.find("gcloud", "artifacts", "docker", "images", "delete")}
    repository = f"{REGION}-docker.pkg.dev/{PROJECT}/gcf-artifacts"
    assert images == {f"{repository}/image-of-{n.replace('_', '-')}" for n in FUNCTIONS}
    assert deploy.build.is_dir(), "a dry run deletes nothing, build/ included"

    done = deploy("teardown", "--dry-run", "--delete-data")
    (rm,) = [c for c in done.find("gcloud", "storage", "rm") if f"gs://{BUCKET}" in c]
    assert f"gs://{BUCKET}" in rm and f"gs://{BUCKET}-data" in rm
    (bq_rm,) = done.find("bq", "rm")
    assert f"{PROJECT}:openimages" in bq_rm


def test_scripts_are_shellcheck_clean() -> None:
    need(shutil.which("shellcheck") is not None, "shellcheck missing (apt-get install shellcheck)")
    scripts = [ROOT / "deploy.sh", ROOT / ".ci" / "run", *sorted(ROOT.glob("tests/support/*.sh"))]
    done = subprocess.run(["shellcheck", *map(str, scripts)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout
