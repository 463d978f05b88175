"""Classifier throughput, peak memory and cold start, beside the seed app's method.

Prints a Markdown report and writes the `<!-- bench:classify:start -->` section of
BENCHMARKS.md (only that section; the rest of the file is left as it is).
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps
from report import BENCH_MD, machine, write_section

from oie.classify.classifier import Classifier, select
from oie.classify.images import _to_rgb, decode, sniff
from oie.classify.model import interpreter_class, load_spec
from oie.classify.sources import DEFAULT_MODEL

ROOT = Path(__file__).resolve().parents[2]
LARGE_SIZE = (4000, 3000)
WORKERS = (2, 4)
TARGET_IPS = 120.0  # typical photos, both cores
TARGET_RATIO = 6.0  # ours / seed on 12 MP JPEGs
TARGET_RSS_MB = 300.0
TARGET_COLD_S = 1.0
STAGES = ("read", "sniff", "decode", "exif_transpose", "to_rgb", "resize", "invoke", "scores")

# Run in fresh interpreters (`python -c`), so they import nothing the parent has loaded.
MEMORY_CHILD = r"""
import json, re, sys
from pathlib import Path
from oie.app import current

def hwm():
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024

clf = current().classifier
loaded = hwm()
items = [(p.name, p.read_bytes) for p in map(Path, sys.argv[1:])] * 2
bad = sum(not o.ok for o in clf.classify_many(items, workers=2))
print(json.dumps({"loaded": loaded, "peak": hwm(), "images": len(items), "bad": bad}))
"""
COLD_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from oie.app import current
import oie.classify.classifier
t1 = time.perf_counter()
clf = current().classifier
t2 = time.perf_counter()
with open(sys.argv[1], "rb") as f:
    clf.classify(f.read())
t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "load": t2 - t1, "first": t3 - t2}))
"""


@dataclass(frozen=True)
class Run:
    images: int
    seconds: float

    @property
    def ips(self) -> float:
        return self.images / self.seconds

    @property
    def ms(self) -> float:
        return 1000 * self.seconds / self.images


@dataclass
class SetResult:
    label: str
    files: int
    ours: dict[int, Run]  # by workers
    seed: Run
    agree: int  # top-1 equal to the seed's
    stages_ours: dict[str, float]  # ms/image, one thread
    stages_seed: dict[str, float]

    @property
    def best(self) -> int:
        return max(self.ours, key=lambda w: self.ours[w].ips)

    @property
    def ratio(self) -> float:
        return self.ours[self.best].ips / self.seed.ips


class Seed:
    """The seed's classifier: PIL RGB, full decode, bicubic resize, one interpreter, / 255."""

    def __init__(self, model: Path):
        self.it = interpreter_class()(model_path=str(model))
        self.it.allocate_tensors()
        inp = self.it.get_input_details()[0]
        self.input, self.output = inp["index"], self.it.get_output_details()[0]["index"]
        self.size = (int(inp["shape"][2]), int(inp["shape"][1]))

    def scores(self, path: Path) -> np.ndarray:
        image = Image.open(io.BytesIO(path.read_bytes()))
        image = image.convert("RGB").resize(self.size, Image.BICUBIC)
        self.it.set_tensor(self.input, np.expand_dims(np.asarray(image, dtype=np.uint8), 0))
        self.it.invoke()
        scores = self.it.get_tensor(self.output)[0] / 255.0
        np.argsort(-scores)  # the seed sorted every score
        return scores


class Clock:
    """Adds the time since the previous lap to `totals[stage]`."""

    def __init__(self, totals: dict[str, float]):
        self.totals, self.t = totals, time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.totals[stage] = self.totals.get(stage, 0.0) + now - self.t
        self.t = now


def repeated(one_pass: Callable[[], float], min_s: float) -> int:
    """Passes needed for `min_s` seconds, from one (warm-up) pass that returns its seconds."""
    return max(1, math.ceil(min_s / max(one_pass(), 1e-6)))


def time_ours(clf: Classifier, paths: list[Path], workers: int, min_s: float) -> Run:
    """Read, decode, resize, invoke: one `classify_many` call over the set repeated."""
    items = [(p.name, p.read_bytes) for p in paths]

    def call(reps: int) -> float:
        start = time.perf_counter()
        bad = [o for o in clf.classify_many(items * reps, workers=workers) if not o.ok]
        if bad:
            raise SystemExit(f"rejected: {bad[0].name}: {bad[0].error}")
        return time.perf_counter() - start

    reps = repeated(lambda: call(1), min_s)
    return Run(len(items) * reps, call(reps))


def time_seed(seed: Seed, paths: list[Path], min_s: float) -> Run:
    def call(reps: int) -> float:
        start = time.perf_counter()
        for _ in range(reps):
            for path in paths:
                seed.scores(path)
        return time.perf_counter() - start

    reps = repeated(lambda: call(1), min_s)
    return Run(len(paths) * reps, call(reps))


def stages_ours(clf: Classifier, paths: list[Path], reps: int) -> dict[str, float]:
    """The steps of `images.decode` and `Classifier.classify`, timed one by one (one thread)."""
    spec, size = clf.spec, clf.spec.input_size
    it = interpreter_class()(model_content=spec.content, num_threads=1)
    it.allocate_tensors()
    inp, out = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
    totals: dict[str, float] = {}
    for rep in range(reps):
        for path in paths:
            clock = Clock(totals)
            data = path.read_bytes()
            clock.lap("read")
            sniff(data, clf.limits)
            clock.lap("sniff")
            image = Image.open(io.BytesIO(data))
            if image.format == "JPEG":
                image.draft("RGB", size)
            image.load()
            clock.lap("decode")
            image = ImageOps.exif_transpose(image)
            clock.lap("exif_transpose")
            image = _to_rgb(image)
            clock.lap("to_rgb")
            image = image.resize(size, Image.Resampling.BILINEAR, reducing_gap=3.0)
            clock.lap("resize")
            it.set_tensor(inp, spec.to_input(np.asarray(image, dtype=np.uint8)))
            it.invoke()
            raw = it.get_tensor(out)
            clock.lap("invoke")
            select(spec.to_scores(raw), spec.labels, 0.25, None)
            clock.lap("scores")
            if rep == 0 and not np.array_equal(np.asarray(image), np.asarray(decode(data, size))):
                raise SystemExit(f"stage replica differs from images.decode on {path.name}")
    return {k: 1000 * v / (reps * len(paths)) for k, v in totals.items()}


def stages_seed(seed: Seed, paths: list[Path], reps: int) -> dict[str, float]:
    totals: dict[str, float] = {}
    for _ in range(reps):
        for path in paths:
            clock = Clock(totals)
            data = path.read_bytes()
            clock.lap("read")
            image = Image.open(io.BytesIO(data))
            image.load()
            clock.lap("decode")
            image = image.convert("RGB")
            clock.lap("to_rgb")
            image = image.resize(seed.size, Image.BICUBIC)
            clock.lap("resize")
            seed.it.set_tensor(seed.input, np.expand_dims(np.asarray(image, dtype=np.uint8), 0))
            seed.it.invoke()
            raw = seed.it.get_tensor(seed.output)
            clock.lap("invoke")
            np.argsort(-(raw[0] / 255.0))
            clock.lap("scores")
    return {k: 1000 * v / (reps * len(paths)) for k, v in totals.items()}


def make_large(photos: list[Path], folder: Path, count: int) -> list[Path]:
    """12 MP JPEGs (quality 90) upscaled from the photos; the first one progressive.

    Seeded sensor-like grain gives them a camera photo's size (several MB): a smooth
    upscale compresses to about 1 MB and decodes faster than real photos do.
    """
    made = []
    rng = np.random.default_rng(12)
    for i, src in enumerate(photos[:count]):
        image = ImageOps.exif_transpose(Image.open(src)).convert("RGB")
        image = ImageOps.fit(image, LARGE_SIZE, Image.Resampling.BICUBIC)
        grain = rng.normal(0, 10, (LARGE_SIZE[1], LARGE_SIZE[0], 3))
        image = Image.fromarray(np.clip(np.asarray(image) + grain, 0, 255).astype(np.uint8))
        path = folder / f"{src.stem}_12mp{'_progressive' if i == 0 else ''}.jpg"
        image.save(path, "JPEG", quality=90, progressive=i == 0)
        made.append(path)
    return made


def bench_set(label: str, clf: Classifier, seed: Seed, paths: list[Path], min_s: float,
              stage_reps: int) -> SetResult:  # fmt: skip
    print(f"{label}: {len(paths)} files", flush=True)
    agree = sum(
        int(np.argmax(clf.scores(p.read_bytes()))) == int(np.argmax(seed.scores(p))) for p in paths
    )
    seed_run = time_seed(seed, paths, min_s)
    ours = {w: time_ours(clf, paths, w, min_s) for w in WORKERS}
    return SetResult(
        label, len(paths), ours, seed_run, agree,
        stages_ours(clf, paths, stage_reps), stages_seed(seed, paths, stage_reps),
    )  # fmt: skip


def child_env(assets: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OIE_MODEL", "OIE_MODEL_LABELS")}
    return {**env, "OIE_ASSETS": str(assets)}


def memory(assets: Path, paths: list[Path], cwd: Path) -> dict[str, Any]:
    """VmHWM of a fresh process that loads the classifier and classifies every file twice."""
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_CHILD, *map(str, paths)],
        env=child_env(assets), cwd=cwd, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def cold(assets: Path, photo: Path, cwd: Path, runs: int) -> dict[str, float]:
    """Medians over `runs` fresh processes: import, model load, first classification, wall."""
    samples: list[dict[str, float]] = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", COLD_CHILD, str(photo)],
            env=child_env(assets), cwd=cwd, capture_output=True, text=True, check=True,
        )  # fmt: skip
        sample = json.loads(done.stdout.strip().splitlines()[-1])
        sample["wall"] = time.perf_counter() - start
        sample["import_load"] = sample["import"] + sample["load"]
        samples.append(sample)
    return {k: statistics.median(s[k] for s in samples) for k in samples[0]}


def call_overhead(clf: Classifier, photo: Path, reps: int = 20) -> float:
    """ms a one-file `classify_many` call costs over `classify` on a warm thread."""
    data = photo.read_bytes()
    clf.classify(data)
    start = time.perf_counter()
    for _ in range(reps):
        clf.classify(data)
    warm = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(reps):
        list(clf.classify_many([(photo.name, photo.read_bytes)], workers=2))
    return 1000 * (time.perf_counter() - start - warm) / reps


# -- reporting ----------------------------------------------------------------------------


def cpu_seconds() -> tuple[float, float]:
    """Busy CPU seconds so far: the whole machine's, and this process's with its children."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    own = os.times()
    return (
        (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK"),  # minus idle, iowait
        own.user + own.system + own.children_user + own.children_system,
    )


def libraries() -> list[str]:
    return [f"{p} {version(p)}" for p in ("ai-edge-litert", "pillow", "numpy")]


def _verdict(ok: bool) -> str:
    return "pass" if ok else "**FAIL**"


def table(sets: list[SetResult], mem: dict[str, Any], start: dict[str, float],
          overhead_ms: float) -> str:  # fmt: skip
    lines = [
        "| image set | images timed | ours w=2 img/s | ours w=4 img/s | ours best ms/img "
        "| seed img/s | seed ms/img | ours/seed | target | pass |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for i, s in enumerate(sets):
        best = s.ours[s.best]
        if i == 0:
            target, ok = f"≥ {TARGET_IPS:.0f} img/s (both cores)", best.ips >= TARGET_IPS
        else:
            target, ok = f"≥ {TARGET_RATIO:.0f}x the seed", s.ratio >= TARGET_RATIO
        lines.append(
            f"| {s.label} | {best.images} | {s.ours[2].ips:.1f} | {s.ours[4].ips:.1f} "
            f"| {best.ms:.1f} (w={s.best}) | {s.seed.ips:.1f} | {s.seed.ms:.1f} "
            f"| {s.ratio:.1f}x | {target} | {_verdict(ok)} |"
        )
    lines += [
        "",
        "| measure | value | target | pass |",
        "| --- | ---: | --- | --- |",
        f"| function process peak memory (VmHWM), both sets, workers=2 | {mem['peak']:.0f} MB "
        f"| ≤ {TARGET_RSS_MB:.0f} MB | {_verdict(mem['peak'] <= TARGET_RSS_MB)} |",
        f"| ... of which after import + model load | {mem['loaded']:.0f} MB | | |",
        f"| cold start: import + model load (median of runs) | {start['import_load']:.2f} s "
        f"| ≤ {TARGET_COLD_S:.0f} s | {_verdict(start['import_load'] <= TARGET_COLD_S)} |",
        f"| ... import (`oie.app`, `oie.classify.*`) | {start['import']:.2f} s | | |",
        f"| ... model load (`current().classifier`) | {start['load']:.2f} s | | |",
        f"| cold start: first classification (typical photo) | {1000 * start['first']:.0f} ms "
        "| | |",
        f"| cold start: whole process, spawn to exit | {start['wall']:.2f} s | | |",
        f"| a one-file `classify_many` call over a warm `classify` | +{overhead_ms:.1f} ms | | |",
    ]
    return "\n".join(lines)


def stage_table(sets: list[SetResult]) -> str:
    heads = [f"{who} {s.label.split(' (')[0]}" for s in sets for who in ("ours", "seed")]
    lines = [
        "| stage (ms/image, one thread) | " + " | ".join(heads) + " |",
        "| --- |" + " ---: |" * len(heads),
    ]
    cols = [st for s in sets for st in (s.stages_ours, s.stages_seed)]
    for stage in (*STAGES, "total"):
        cells = [
            f"{sum(c.values()):.2f}" if stage == "total" else
            (f"{c[stage]:.2f}" if stage in c else "-")
            for c in cols
        ]  # fmt: skip
        lines.append(f"| {stage} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def section(command: str, report: str, notes: str) -> str:
    return f"""<!-- bench:classify:start -->
## Classifier

`{command}` on {datetime.date.today().isoformat()}; {machine(*libraries())}.

{report}

{notes}
<!-- bench:classify:end -->
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=Path, default=ROOT.parent / "shared" / "assets")
    parser.add_argument("--quick", action="store_true", help="shorter runs, 3 large JPEGs")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    assets: Path = args.assets.resolve()
    min_s, large_n, stage_reps, cold_runs = (0.5, 3, 1, 2) if args.quick else (3.0, 12, 3, 5)
    command = "python tests/bench/classify_bench.py" + (" --quick" if args.quick else "")
    wall0, (busy0, own0) = time.perf_counter(), cpu_seconds()

    photos = sorted(p for p in (assets / "images").iterdir() if p.is_file())
    model = assets / "models" / DEFAULT_MODEL
    clf, seed = Classifier(load_spec(model)), Seed(model)
    with tempfile.TemporaryDirectory(prefix="oie-classify-bench-") as tmp:
        folder = Path(tmp)
        print(f"making {large_n} 12 MP JPEGs in {folder}", flush=True)
        large = make_large(photos, folder, large_n)
        large_mb = statistics.mean(p.stat().st_size for p in large) / 2**20
        mp = [math.prod(Image.open(p).size) / 1e6 for p in photos]
        sets = [
            bench_set(f"typical photos ({len(photos)} files, {min(mp):.2f}-{max(mp):.2f} MP)",
                      clf, seed, photos, min_s, stage_reps),
            bench_set(f"12 MP JPEGs ({len(large)} files, 4000x3000, q90, grain, 1 progressive, "
                      f"{large_mb:.1f} MB avg)", clf, seed, large, min_s, stage_reps),
        ]  # fmt: skip
        overhead_ms = call_overhead(clf, photos[0])
        print("peak memory (subprocess)", flush=True)
        mem = memory(assets, photos + large, folder)
        if mem["bad"]:
            raise SystemExit(f"the memory run rejected {mem['bad']} images")
        print("cold start (subprocesses)", flush=True)
        start = cold(assets, next(p for p in photos if p.suffix == ".jpg"), folder, cold_runs)
    busy1, own1 = cpu_seconds()
    others = (busy1 - busy0 - (own1 - own0)) / ((time.perf_counter() - wall0) * os.cpu_count())

    report = f"{table(sets, mem, start, overhead_ms)}\n\n{stage_table(sets)}"
    agree = "; ".join(f"{s.label.split(' (')[0]} {s.agree}/{s.files}" for s in sets)
    notes = f"""- Ours: `oie.classify.classifier.Classifier.classify_many(workers=w)` over
  (name, read) pairs, one call over the set repeated for ≥ {min_s:g} s: read the file,
  sniff, decode (JPEG draft), EXIF, RGB, bilinear resize, invoke on one interpreter per
  thread. ms/img = wall time / images.
- Seed: the course app's method on the same runtime, one thread, one
  `Interpreter(model_path=...)`: `Image.open(...).convert("RGB").resize((224, 224), BICUBIC)`
  (full decode), one `set_tensor/invoke/get_tensor` per image, scores / 255, sorted.
- Model `{DEFAULT_MODEL}`; top-1 agrees with the seed's on {agree} files.
  The 12 MP JPEGs are upscaled from the assets' photos at run time, with seeded grain so
  they are as large as camera photos (a smooth upscale would be ~1 MB and decode faster).
- Peak memory: VmHWM of a fresh process that loads the classifier (`current().classifier`,
  `OIE_ASSETS`) and classifies both sets twice with `classify_many(workers=2)`. Cold start:
  fresh `python -c` processes, median of {cold_runs}.
- Stage table: the same steps timed one by one on one thread (sniff = header checks; the
  seed has no sniff or EXIF step). Other processes used {100 * max(others, 0):.0f}% of the
  machine's CPU time during the run."""
    print(f"\n{report}\n\n{notes}")
    if not args.no_write:
        write_section("classify", section(command, report, notes))
        print(f"\nwrote the classify section of {BENCH_MD}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
