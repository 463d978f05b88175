"""What every benchmark report shares: the machine it ran on, and its section of BENCHMARKS.md."""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

BENCH_MD = Path(__file__).resolve().parents[2] / "BENCHMARKS.md"
HEADER = "# Benchmarks\n\nWritten by `make bench`; each section names the command that wrote it.\n"


def machine(*versions: str) -> str:
    """Cores, CPU model, memory and Python, then the given library versions."""
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor() or "unknown CPU",
    )  # fmt: skip
    found = re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())
    memory = f", {int(found.group(1)) / 2**20:.0f} GiB RAM" if found else ""
    return ", ".join(
        [f"{len(os.sched_getaffinity(0))} cores ({cpu}){memory}",
         f"Python {platform.python_version()}", *versions]
    )  # fmt: skip


def write_section(name: str, text: str) -> None:
    """Replace the `<!-- bench:NAME:start -->` ... `end` block of BENCHMARKS.md, or append it."""
    current = BENCH_MD.read_text() if BENCH_MD.exists() else HEADER
    block = re.compile(rf"<!-- bench:{name}:start -->.*?<!-- bench:{name}:end -->\n?", re.S)
    if block.search(current):
        updated = block.sub(lambda _m: text, current)
    else:
        updated = current.rstrip("\n") + "\n\n" + text
    BENCH_MD.write_text(updated)
