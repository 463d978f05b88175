"""Each deployed bundle's installed size and cold import time, in its own venv.

Builds the bundles (`./deploy.sh build`), installs each distinct requirements.txt alone into
a Python 3.12 venv (cached in .venv-bundles/, shared with tests/test_bundles.py), and
measures: the venv's site-packages without pip, the bundle folder itself, and the import
time of its main.py in fresh processes. Baselines: every function's requirements in one venv,
and the project's own .venv. Prints a Markdown report and writes the
`<!-- bench:bundles:start -->` section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from report import BENCH_MD, machine, write_section

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from tests.support import bundles as b  # noqa: E402

ASSETS = ROOT.parent / "shared" / "assets"
# deploy.sh's order: the query functions, then the classifiers'.
ORDER = (*b.QUERY_FUNCTIONS, "image_classify_classes", "results", "image_classify",
         "label_detection", *b.EVENT_FUNCTIONS)  # fmt: skip
# The module each direct requirement is imported as, on a function's first request.
MODULES = {
    "functions-framework": "functions_framework",
    "google-cloud-bigquery": "google.cloud.bigquery",
    "google-cloud-storage": "google.cloud.storage",
    "google-cloud-vision": "google.cloud.vision",
    "sqlglot": "sqlglot",
    "jinja2": "jinja2",
    "ai-edge-litert": "ai_edge_litert.interpreter",
    "numpy": "numpy",
    "pillow": "PIL.Image",
}
# Outside a venv's own packages: what `python -m venv` puts there, and the editable project.
NOT_INSTALLED = ("pip", "setuptools", "pkg_resources", "_distutils_hack", "distutils-precedence",
                 "__editable__", "open_images_explorer")  # fmt: skip
# Timed in a fresh interpreter: functions_framework.create_app (imports the framework and
# main.py), then every library the function imports lazily on its first request.
TIMER = r"""
import importlib, json, sys, time
t0 = time.perf_counter()
import functions_framework
functions_framework.create_app(target=sys.argv[1], source="main.py",
                               signature_type=sys.argv[2])
t1 = time.perf_counter()
for name in sys.argv[3:]:
    importlib.import_module(name)
t2 = time.perf_counter()
print(json.dumps([t1 - t0, t2 - t0]))
"""


@dataclass
class Row:
    name: str
    direct: list[str]
    distributions: int
    installed_mb: float
    bundle_kib: float | None
    create_app_ms: float
    ready_ms: float


def direct_requirements(function: str) -> list[str]:
    """The names in functions/NAME/requirements.in."""
    lines = (ROOT / "functions" / function / "requirements.in").read_text().splitlines()
    pins = [line.split("#", 1)[0].strip() for line in lines]
    return [pin.split("==", 1)[0].lower() for pin in pins if pin]


def installed_bytes(venv: Path) -> tuple[int, int]:
    """(bytes, distributions) in the venv's site-packages, leaving out what an empty venv
    has (pip) and the editable project."""
    site = b.site_packages(venv)
    total, dists = 0, 0
    skipped = tuple(n.replace("-", "_") for n in NOT_INSTALLED)
    for entry in site.iterdir():
        if entry.name.lower().replace("-", "_").startswith(skipped):
            continue
        dists += entry.name.endswith(".dist-info")
        total += b.tree_bytes(entry) if entry.is_dir() else entry.stat().st_size
    return total, dists


def largest(venv: Path, n: int = 4) -> str:
    """The `n` largest top-level packages of the venv's site-packages, with their MB."""
    site = b.site_packages(venv)
    sizes = {e.name: b.tree_bytes(e) for e in site.iterdir()
             if e.is_dir() and not e.name.endswith(".dist-info") and e.name != "pip"}  # fmt: skip
    top = sorted(sizes.items(), key=lambda item: -item[1])[:n]
    return ", ".join(f"{name} {size / 1e6:.0f}" for name, size in top)


def signature(function: str) -> str:
    return "cloudevent" if function in b.EVENT_FUNCTIONS else "http"


def import_times(python: Path, bundle: Path, target: str, modules: Sequence[str],
                 runs: int) -> tuple[float, float]:  # fmt: skip
    """Median (create_app, create_app + modules) seconds over `runs` fresh processes,
    after one untimed run that writes the bundle's bytecode."""
    env = {"PATH": "/usr/bin:/bin", "HOME": tempfile.gettempdir(), "LANG": "C.UTF-8"}
    samples = []
    for _ in range(runs + 1):
        done = subprocess.run(
            [str(python), "-I", "-c", TIMER, target, signature(target), *modules],
            cwd=bundle, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"{target} in {python}: {done.stderr[-2000:]}")
        samples.append(json.loads(done.stdout.strip().splitlines()[-1]))
    timed = samples[1:]
    return statistics.median(s[0] for s in timed), statistics.median(s[1] for s in timed)


def bundle_kib(bundle: Path) -> float:
    files = [p for p in bundle.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    return sum(p.stat().st_size for p in files) / 1024


def measure(runs: int) -> tuple[list[Row], dict[str, str]]:
    python, note = b.runtime_python()
    rows: list[Row] = []
    facts = {"python": python, "note": note}
    with tempfile.TemporaryDirectory(prefix="bundle-bench-") as tmp:
        built = b.build_bundles(Path(tmp), {"OIE_ASSETS": str(ASSETS)})
        bundles = {n: built / n for n in b.FUNCTIONS}
        facts["bundle_python"] = subprocess.run(
            [python, "-c", "import platform; print(platform.python_version())"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        for name in ORDER:
            venv = b.bundle_venv(bundles[name] / "requirements.txt", python)
            size, dists = installed_bytes(venv)
            if name in ("classes", "classify_tflite"):
                facts[f"largest_{name}"] = largest(venv)
            direct = direct_requirements(name)
            modules = [MODULES[d] for d in direct if d != "functions-framework"]
            create, ready = import_times(b.venv_python(venv), bundles[name], name, modules, runs)
            rows.append(Row(name, direct, dists, size / 1e6, bundle_kib(bundles[name]),
                            create * 1000, ready * 1000))  # fmt: skip
            print(f"{name}: {size / 1e6:.1f} MB, {create * 1000:.0f} / {ready * 1000:.0f} ms",
                  file=sys.stderr)  # fmt: skip
        # Baselines: one venv with every function's requirements; the project's .venv.
        union = Path(tmp) / "requirements.txt"
        union.write_text(b.union_requirements(bundles.values()))
        every = [m for d, m in MODULES.items() if d != "functions-framework"]
        baselines = [("all 13 functions' requirements in one venv", b.bundle_venv(union, python)),
                     ("the project's .venv (runtime and dev tools)", ROOT / ".venv")]  # fmt: skip
        for label, venv in baselines:
            size, dists = installed_bytes(venv)
            create, ready = import_times(b.venv_python(venv), bundles["classes"], "classes",
                                         every, runs)  # fmt: skip
            rows.append(Row(label, [], dists, size / 1e6, None, create * 1000, ready * 1000))
        b.prune_venvs([b.VENVS / b.requirements_key(p) for p in bundles.values()]
                      + [b.VENVS / b.sha256(union.read_bytes())])  # fmt: skip
    return rows, facts


def markdown(rows: list[Row], facts: dict[str, str], runs: int, command: str) -> str:
    full = rows[-1].installed_mb
    today = datetime.date.today().isoformat()
    lines = [
        "<!-- bench:bundles:start -->",
        "## Bundles",
        "",
        f"`{command}` on {today}; {machine()}; bundle venvs: Python {facts['bundle_python']}"
        f"{f' ({note})' if (note := facts['note']) else ''}.",
        "",
        "| function | direct requirements | distributions | installed MB | of the full install "
        "| bundle KiB | create_app ms | + first-request imports ms |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        direct = ", ".join(d for d in r.direct if d != "functions-framework")
        name = f"`{r.name}`" if r.bundle_kib is not None else r.name
        bundle = f"{r.bundle_kib:,.0f}" if r.bundle_kib is not None else ""
        lines.append(
            f"| {name} | {direct or ('-' if r.direct else '')} | {r.distributions} "
            f"| {r.installed_mb:.1f} | {r.installed_mb / full:.0%} | {bundle} "
            f"| {r.create_app_ms:.0f} | {r.ready_ms:.0f} |"
        )
    lines += [
        "",
        "- Each function's venv holds its `requirements.txt` alone (`pip install --no-deps -r`,"
        " then `pip check`), as tests/test_bundles.py installs it; functions with the same"
        " requirements share one. Direct requirements: its `requirements.in`, besides"
        " functions-framework.",
        f"- Largest packages (MB): in the query functions' venv {facts['largest_classes']};"
        f" in classify_tflite's {facts['largest_classify_tflite']}. grpc comes with"
        " google-api-core[grpc], which google-cloud-bigquery requires though its client speaks"
        " REST; cryptography with google-auth.",
        "- Installed MB: the files under the venv's site-packages, byte sizes summed, bytecode"
        " pip compiled included, pip itself (what an empty venv has) left out. Of the full"
        " install: that over the project's own `.venv` (last row: everything in pyproject.toml"
        " with the dev extra, Python 3.11). Bundle KiB: the folder `./deploy.sh build` makes"
        " (main.py, the `oie` package, the JSON schemas, and the TFLite model for"
        " image_classify, image_classify_classes and classify_tflite).",
        "- create_app ms: `functions_framework.create_app(target=NAME, source='main.py')` in a"
        f" fresh `python -I` with the bundle as working directory, framework import included;"
        f" + first-request imports: then importing every direct requirement, as the function's"
        f" first request does (its imports are lazy); no client made, no network. Median of"
        f" {runs} processes after one untimed run (which writes the bundle's bytecode). The"
        f" baselines time `classes` and then every library any function imports.",
        "<!-- bench:bundles:end -->",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed processes per figure")
    parser.add_argument("--no-write", action="store_true", help=f"do not update {BENCH_MD.name}")
    args = parser.parse_args()
    rows, facts = measure(args.runs)
    command = "python tests/bench/bundle_bench.py" + (
        f" --runs {args.runs}" if args.runs != 5 else ""
    )
    text = markdown(rows, facts, args.runs, command)
    print(text)
    if not args.no_write:
        write_section("bundles", text)


if __name__ == "__main__":
    main()
