"""Deployed bundles outside the repo: build them, give each its own virtualenv, probe them.

A bundle is what `./deploy.sh build` puts in build/NAME and Cloud Functions installs: its
main.py, the `oie` package, and a requirements.txt that pins every dependency. Its venv
holds that requirements.txt alone (`pip install --no-deps`, then `pip check`), so a missing
pin fails the install instead of being filled in from the repo. Venvs are cached under
.venv-bundles/<sha256 of requirements.txt>/: bundles with the same requirements share one,
and a rerun installs nothing.
"""

from __future__ import annotations

import fcntl
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from oie import manifest

ROOT = Path(__file__).resolve().parents[2]
VENVS = ROOT / ".venv-bundles"
PROBE = Path(__file__).with_name("bundle_probe.py")
RUNTIME = (3, 12)  # Cloud Functions' python312, as deploy.sh deploys
MANIFEST = manifest.load(ROOT / "functions")


def functions(folder: Path = ROOT / "functions") -> tuple[str, ...]:
    """The bundles `deploy.sh build` makes: one per function of the manifest."""
    return tuple(f.name for f in manifest.load(folder))


FUNCTIONS = functions()
# The explorer's query pages: neither a model nor an upload.
QUERY_FUNCTIONS = tuple(f.name for f in MANIFEST if f.account == "query" and not f.model)
EVENT_FUNCTIONS = tuple(f.name for f in MANIFEST if f.kind == "event")
# What a query function must neither import nor install: the classifiers' libraries, and
# DuckDB (the local stack's warehouse) for every function.
HEAVY_MODULES = ("ai_edge_litert", "tflite_runtime", "numpy", "PIL", "google.cloud.vision")
HEAVY_DISTRIBUTIONS = ("ai-edge-litert", "tflite-runtime", "numpy", "pillow",
                       "google-cloud-vision")  # fmt: skip


def _runs_as(python: str) -> tuple[int, int] | None:
    try:
        found = subprocess.run(
            [python, "-c", "import sys; print(*sys.version_info[:2])"],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    major, minor = found.stdout.split()
    return int(major), int(minor)


def runtime_python() -> tuple[str, str]:
    """The interpreter for bundle venvs: a Python 3.12 like the runtime's, else this one.

    Returns (path, note); the note says when another Python stands in for 3.12.
    """
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = [
        shutil.which("python3.12"),  # a pyenv shim fails unless 3.12 is selected: tried
        *sorted(glob.glob(str(pyenv / "versions" / "3.12*" / "bin" / "python3.12")), reverse=True),
        "/usr/local/bin/python3.12",
        "/usr/bin/python3.12",
    ]
    for candidate in candidates:
        if candidate and Path(candidate).exists() and _runs_as(candidate) == RUNTIME:
            return candidate, ""
    here = ".".join(map(str, sys.version_info[:2]))
    return sys.executable, f"no Python 3.12 here: bundle venvs use Python {here} instead"


def build_bundles(build: Path, env: Mapping[str, str] | None = None) -> Path:
    """`./deploy.sh build` (every function) into `build`, never the user's build/."""
    run_env = {**os.environ, "GOOGLE_CLOUD_PROJECT": "demo-project", "OIE_BUILD_DIR": str(build),
               "OIE_PYTHON": sys.executable, **(env or {})}  # fmt: skip
    done = subprocess.run(
        ["bash", str(ROOT / "deploy.sh"), "build"], cwd=ROOT, env=run_env,
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"deploy.sh build failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return build


def sha256(data: str | bytes) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def requirements_key(bundle: Path) -> str:
    """The name of the cached venv for `bundle`: the sha256 of its requirements.txt."""
    return sha256((bundle / "requirements.txt").read_bytes())


def _pip(python: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    return subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True, text=True, env=env, timeout=1800,
    )  # fmt: skip


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def bundle_venv(requirements: Path, python: str) -> Path:
    """The venv holding `requirements` alone, made (once) with `python`; raises when the
    requirements do not install by themselves or `pip check` finds a missing dependency."""
    key = sha256(requirements.read_bytes())
    venv = VENVS / key
    marker = venv / ".bundle-venv.json"
    version = ".".join(map(str, _runs_as(python) or ()))
    VENVS.mkdir(exist_ok=True)
    with open(VENVS / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one builder per venv, across processes
        if marker.is_file() and json.loads(marker.read_text()).get("python") == version:
            marker.touch()  # last used: prune_venvs keeps what was used lately
            return venv
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([python, "-m", "venv", str(venv)], check=True, timeout=300)
        installed = _pip(venv_python(venv), "install", "--no-deps", "-r", str(requirements))
        if installed.returncode != 0:
            said = f"{installed.stdout[-3000:]}\n{installed.stderr[-3000:]}"
            raise RuntimeError(f"pip install --no-deps -r {requirements} failed:\n{said}")
        checked = _pip(venv_python(venv), "check")
        if checked.returncode != 0:
            raise RuntimeError(f"pip check after installing {requirements} alone:\n"
                               f"{checked.stdout}{checked.stderr}")  # fmt: skip
        shutil.copy(requirements, venv / "requirements.txt")
        marker.write_text(json.dumps({"python": version, "requirements": key}))
    return venv


def union_requirements(folders: Iterable[Path]) -> str:
    """One requirements.txt with every pin of the given bundles' (all functions in one
    venv); raises when two bundles pin a distribution at different versions."""
    pins: dict[str, str] = {}
    for folder in folders:
        for line in (folder / "requirements.txt").read_text().splitlines():
            pin = line.split("#", 1)[0].strip()
            if pin:
                name = pin.split("==", 1)[0].lower()
                if pins.setdefault(name, pin) != pin:
                    raise ValueError(f"{folder.name} pins {pin}, another bundle {pins[name]}")
    return "".join(f"{pins[name]}\n" for name in sorted(pins))


def prune_venvs(keep: Iterable[Path], unused_for: float = 600.0) -> list[Path]:
    """Remove cached venvs other than `keep` that nobody used for `unused_for` seconds:
    those of requirements.txt files that have changed since."""
    kept = {v.resolve() for v in keep}
    removed = []
    for venv in VENVS.glob("*/") if VENVS.is_dir() else ():
        marker = venv / ".bundle-venv.json"
        used = marker.stat().st_mtime if marker.is_file() else venv.stat().st_mtime
        if venv.resolve() not in kept and time.time() - used > unused_for:
            shutil.rmtree(venv, ignore_errors=True)
            (VENVS / f"{venv.name}.lock").unlink(missing_ok=True)
            removed.append(venv)
    return removed


def installed_distributions(venv: Path) -> dict[str, str]:
    """Normalised distribution name -> version, as `pip list` in the venv reports them."""
    listed = _pip(venv_python(venv), "list", "--format=json")
    listed.check_returncode()
    return {d["name"].lower().replace("_", "-"): d["version"] for d in json.loads(listed.stdout)}


def probe(
    venv: Path,
    bundle: Path,
    target: str,
    requests: Sequence[Mapping[str, Any]],
    env: Mapping[str, str],
    signature_type: str = "http",
    timeout: float = 180.0,
) -> dict[str, Any]:
    """Serve `requests` from `bundle` in `venv` (cwd = the bundle, `python -I`, only `env`)."""
    with tempfile.TemporaryDirectory(prefix="bundle-probe-") as tmp:
        spec = {"target": target, "signature_type": signature_type,
                "requests": list(requests), "out": str(Path(tmp) / "report.json")}  # fmt: skip
        spec_file = Path(tmp) / "spec.json"
        spec_file.write_text(json.dumps(spec))
        done = subprocess.run(
            [str(venv_python(venv)), "-I", str(PROBE), str(spec_file)],
            cwd=bundle, env=dict(env), capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        if done.returncode != 0 or not Path(spec["out"]).is_file():
            said = done.stderr[-4000:]
            raise RuntimeError(f"probe of {target} exited {done.returncode}:\n{said}")
        report = json.loads(Path(spec["out"]).read_text())
    report["stderr"] = done.stderr
    return report


def loaded(modules: Sequence[str], package: str) -> list[str]:
    """The modules of `package` (e.g. "google.cloud.vision") among `modules`."""
    return [m for m in modules if m == package or m.startswith(package + ".")]


def tree_bytes(path: Path) -> int:
    """Bytes of the regular files under `path` (symlinks not followed)."""
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            file = Path(folder) / name
            if not file.is_symlink():
                total += file.stat().st_size
    return total


def site_packages(venv: Path) -> Path:
    [found] = (venv / "lib").glob("python3*/site-packages")
    return found
