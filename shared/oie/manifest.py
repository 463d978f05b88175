"""The list of functions: `functions/functions.toml`, read by deploy.sh, the local host, the
bundle builder and the tests. Adding a function is one entry there and one folder.

    python -m oie.manifest table [FUNCTIONS_DIR]   # one line per function, for deploy.sh
"""

from __future__ import annotations

import re
import sys
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

MANIFEST = "functions.toml"
KINDS = {"http": "http", "event": "topic"}  # kind -> its trigger
ACCESS = ("public", "private")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")  # a Cloud Functions name that is a Python name
_MEMORY = re.compile(r"^[0-9]+(Mi|Gi)$")


class ManifestError(ValueError):
    """The manifest, or a function's folder, is not as it must be; the message says where."""


@dataclass(frozen=True)
class Function:
    name: str
    kind: str  # http | event
    trigger: str  # http | topic
    memory: str
    cpu: int
    concurrency: int
    max_instances: int
    timeout_s: int
    account: str
    access: str  # public | private
    model: bool
    folder: Path

    @property
    def entry_point(self) -> str:
        return self.name  # main.py defines a function of the same name

    @property
    def source(self) -> Path:
        return self.folder / "main.py"

    @property
    def requirements(self) -> Path:
        return self.folder / "requirements.txt"

    @property
    def signature_type(self) -> str:
        """functions-framework's name of the kind."""
        return "cloudevent" if self.kind == "event" else "http"


_FIELDS = {f.name: f.type for f in fields(Function) if f.name not in ("name", "folder")}


def find_dir(configured: Path | None = None) -> Path:
    """`configured` (OIE_FUNCTIONS_DIR) as it is, else `functions/` of the working
    directory or of the checkout the package is in."""
    if configured:
        if not (configured / MANIFEST).is_file():
            raise FileNotFoundError(f"{configured}/{MANIFEST}: no such file")
        return configured
    candidates = []
    candidates += [Path.cwd() / "functions", Path(__file__).resolve().parents[2] / "functions"]
    for path in candidates:
        if (path / MANIFEST).is_file():
            return path
    raise FileNotFoundError(
        f"cannot find functions/{MANIFEST}; run from the project root or set OIE_FUNCTIONS_DIR"
    )


def _function(entry: dict[str, Any], defaults: dict[str, Any], folder: Path) -> Function:
    name = entry.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ManifestError(f"{MANIFEST}: name {name!r} is not a function name (a-z, 0-9, _)")
    merged = defaults | entry
    unknown = set(merged) - set(_FIELDS) - {"name"}
    if unknown:
        raise ManifestError(f"{MANIFEST}: {name}: unknown keys {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for key, kind in _FIELDS.items():
        if key not in merged:
            raise ManifestError(f"{MANIFEST}: {name}: {key} is not set")
        want = {"int": int, "bool": bool}.get(str(kind), str)
        if type(merged[key]) is not want:
            raise ManifestError(f"{MANIFEST}: {name}: {key} must be {want.__name__}")
        values[key] = merged[key]
    if KINDS.get(values["kind"]) != values["trigger"]:
        raise ManifestError(f"{MANIFEST}: {name}: kind {values['kind']!r} with trigger "
                            f"{values['trigger']!r}; expected one of {KINDS}")  # fmt: skip
    if values["access"] not in ACCESS or not _MEMORY.match(values["memory"]):
        raise ManifestError(f"{MANIFEST}: {name}: access must be public or private, memory "
                            "like 512Mi or 1Gi")  # fmt: skip
    function = Function(name=name, folder=folder / name, **values)
    for path in (function.source, function.requirements):
        if not path.is_file():
            raise ManifestError(f"{MANIFEST}: {name}: {path} is missing")
    return function


def load(folder: Path | None = None) -> tuple[Function, ...]:
    """Every function of `folder` (default: `find_dir()`), in the manifest's order; every
    folder with a main.py must be listed."""
    folder = find_dir(folder)
    raw = tomllib.loads((folder / MANIFEST).read_text())
    defaults = raw.get("defaults", {})
    out = tuple(_function(entry, defaults, folder) for entry in raw.get("function", []))
    names = [f.name for f in out]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ManifestError(f"{MANIFEST}: listed twice: {', '.join(repeated)}")
    unlisted = sorted(p.parent.name for p in folder.glob("*/main.py") if p.parent.name not in names)
    if unlisted:
        raise ManifestError(f"{MANIFEST}: functions/{unlisted[0]}/ has a main.py but no entry")
    return out


def table(functions: tuple[Function, ...]) -> str:
    """One line per function: name trigger memory cpu concurrency max timeout account access
    model (yes/no); the columns deploy.sh reads."""
    rows = [
        [f.name, f.trigger, f.memory, str(f.cpu), str(f.concurrency), str(f.max_instances),
         str(f.timeout_s), f.account, f.access, "yes" if f.model else "no"]
        for f in functions
    ]  # fmt: skip
    return "".join(" ".join(row) + "\n" for row in rows)


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3) or sys.argv[1] != "table":
        sys.exit("usage: python -m oie.manifest table [FUNCTIONS_DIR]")
    try:
        listed = load(Path(sys.argv[2]) if len(sys.argv) == 3 else None)
    except (ManifestError, FileNotFoundError, tomllib.TOMLDecodeError) as exc:
        sys.exit(f"manifest: {exc}")
    sys.stdout.write(table(listed))
