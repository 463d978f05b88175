"""functions/functions.toml: the one list of functions, and what reads it.

Adding a function is one entry in the manifest and one folder: deploy.sh deploys it, the
local host serves it, the bundle builder builds it. Bad manifests are refused with the
entry named.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from werkzeug.test import Client

from oie import manifest
from oie.local.host import create_host
from tests.conftest import fresh_app
from tests.support import bundles

ROOT = Path(__file__).resolve().parents[1]
HELLO = '''"""HTTP function `hello`: a greeting."""

import functions_framework


@functions_framework.http
def hello(request):
    return f"hello, {request.args.get('name', 'world')}"
'''


@pytest.fixture
def with_hello(tmp_path: Path) -> Path:
    """A copy of functions/ with one more function: its folder and its manifest entry."""
    folder = tmp_path / "functions"
    shutil.copytree(ROOT / "functions", folder)
    (folder / "hello").mkdir()
    (folder / "hello" / "main.py").write_text(HELLO)
    (folder / "hello" / "requirements.in").write_text("functions-framework\n")
    shutil.copy(ROOT / "functions" / "index" / "requirements.txt", folder / "hello")
    with (folder / manifest.MANIFEST).open("a") as fh:
        fh.write('\n[[function]]\nname = "hello"\nmax_instances = 2\n')
    return folder


def test_the_manifest_lists_every_function_folder() -> None:
    listed = manifest.load(ROOT / "functions")
    folders = {p.parent.name for p in (ROOT / "functions").glob("*/main.py")}
    assert {f.name for f in listed} == folders
    kinds = {f.name: f.kind for f in listed}
    assert kinds["classify_tflite"] == kinds["classify_vision"] == "event"
    assert sum(k == "http" for k in kinds.values()) == 13


def test_a_new_entry_is_served_by_the_local_host(with_hello: Path) -> None:
    web = Client(create_host(source_dir=with_hello))
    answer = web.get("/hello?name=you")
    assert answer.status_code == 200 and answer.get_data(as_text=True) == "hello, you"
    assert "/hello" in web.get("/nothing-here").get_data(as_text=True)


def test_the_local_host_reads_the_folder_of_oie_functions_dir(
    with_hello: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OIE_FUNCTIONS_DIR", str(with_hello))
    fresh_app()
    assert Client(create_host()).get("/hello").get_data(as_text=True) == "hello, world"
    monkeypatch.setenv("OIE_FUNCTIONS_DIR", str(with_hello / "nowhere"))
    fresh_app()
    with pytest.raises(FileNotFoundError, match=r"nowhere/functions\.toml: no such file"):
        create_host()
    monkeypatch.delenv("OIE_FUNCTIONS_DIR")
    fresh_app()


def deploy(folder: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """deploy.sh with gcloud and bq replaced by commands that fail: a dry run calls neither."""
    stand_ins = tmp_path / "bin"
    stand_ins.mkdir(exist_ok=True)
    for tool in ("gcloud", "bq"):
        (stand_ins / tool).write_text("#!/bin/sh\nexit 97\n")
        (stand_ins / tool).chmod(0o755)
    env = {
        "PATH": f"{stand_ins}:{os.environ['PATH']}", "HOME": str(tmp_path),
        "GOOGLE_CLOUD_PROJECT": "oie-demo-4711", "OIE_FUNCTIONS_DIR": str(folder),
        "OIE_BUILD_DIR": str(tmp_path / "build"), "OIE_ENV_FILE": str(tmp_path / "no.env"),
        "OIE_PYTHON": sys.executable, "OIE_ASSETS": os.environ.get("OIE_ASSETS", ""),
    }  # fmt: skip
    return subprocess.run(["bash", str(ROOT / "deploy.sh"), *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


@pytest.mark.deploy
def test_a_new_entry_is_built_and_deployed_by_deploy_sh(with_hello: Path, tmp_path: Path) -> None:
    done = deploy(with_hello, tmp_path, "--dry-run", "--only", "hello")
    assert done.returncode == 0, done.stderr
    [command] = [line for line in done.stdout.splitlines() if "functions deploy hello" in line]
    assert "--max-instances=2" in command and "--memory=512Mi" in command
    assert "--trigger-http" in command and "--allow-unauthenticated" in command
    assert (tmp_path / "build" / "hello" / "main.py").read_text() == HELLO
    assert (tmp_path / "build" / "hello" / "oie" / "app.py").is_file()


@pytest.mark.deploy
def test_a_new_entry_is_built_by_the_bundle_builder(
    with_hello: Path, tmp_path: Path, assets: Path
) -> None:
    env = {"OIE_FUNCTIONS_DIR": str(with_hello), "OIE_ASSETS": str(assets)}
    built = bundles.build_bundles(tmp_path / "built", env)
    assert (built / "hello" / "main.py").read_text() == HELLO
    assert "hello" in bundles.functions(with_hello)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('name = "Hello"', "is not a function name"),
        ('name = "nowhere"', "functions/nowhere/main.py is missing"),
        ('name = "index"', "listed twice: index"),
        ('name = "hello"\nkind = "event"', "kind 'event' with trigger 'http'"),
        ('name = "hello"\nmemory = 512', "memory must be str"),
        ('name = "hello"\nconcurrency = "40"', "concurrency must be int"),
        ('name = "hello"\nmodel = "yes"', "model must be bool"),
        ('name = "hello"\naccess = "everyone"', "access must be public or private"),
        ('name = "hello"\nregion = "mars"', "unknown keys region"),
    ],
)
def test_bad_entries_are_refused_by_name(with_hello: Path, entry: str, message: str) -> None:
    path = with_hello / manifest.MANIFEST
    text = path.read_text().replace('[[function]]\nname = "hello"\nmax_instances = 2\n', "")
    path.write_text(text + f"\n[[function]]\n{entry}\n")
    with pytest.raises(manifest.ManifestError, match=message):
        manifest.load(with_hello)


@pytest.mark.deploy
def test_a_folder_without_an_entry_is_refused(with_hello: Path, tmp_path: Path) -> None:
    path = with_hello / manifest.MANIFEST
    path.write_text(
        path.read_text().replace('[[function]]\nname = "hello"\nmax_instances = 2\n', "")
    )
    with pytest.raises(manifest.ManifestError, match=r"functions/hello/ has a main\.py but no"):
        manifest.load(with_hello)
    done = deploy(with_hello, tmp_path, "--dry-run")
    assert done.returncode == 2 and "functions/hello/ has a main.py" in done.stderr
    assert "Traceback" not in done.stderr


# The sizing written at the top of functions.toml, recomputed from the limits it names.
BASELINE_MB = 150
DECODERS = {"classify_tflite": "event", "classify_vision": "event", "results": "event",
            "image_classify": "upload", "label_detection": "upload"}  # fmt: skip


def test_every_function_that_decodes_images_fits_its_memory() -> None:
    from oie.classify.images import DECODE_BUDGET, MAX_BYTES
    from oie.web.uploads import MAX_REQUEST_BYTES

    mb = 1_000_000
    held = {"event": MAX_BYTES / mb, "upload": (MAX_REQUEST_BYTES + MAX_BYTES) / mb}
    for f in manifest.load(ROOT / "functions"):
        if f.name not in DECODERS:
            continue
        number, unit = int(f.memory[:-2]), f.memory[-2:]
        memory_mb = number * {"Mi": 1.048576, "Gi": 1073.741824}[unit]
        need = BASELINE_MB + f.concurrency * held[DECODERS[f.name]] + DECODE_BUDGET / mb
        assert need <= 0.8 * memory_mb, (f.name, need, memory_mb)
