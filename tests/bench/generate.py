"""Open Images-shaped benchmark data, generated in DuckDB SQL straight into a DuckDB file.

The raw tables have the schemas of `oie.tables.SCHEMAS`; `class_hierarchy` is the assets' Open
Images hierarchy, imported as `oie import` does; the derived tables are built by the
project's own `derive_tables`; `bench_meta` records a fingerprint of their definitions, and a
file whose raw data is current but whose fingerprint differs is only re-derived. Randomness
is counter-based (DuckDB's `hash` of a row number and the seed), so a scale and seed always
give the same rows, whatever the thread count.

    python tests/bench/generate.py --scale course
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import duckdb

from oie.dataset.importer import check_hierarchy, derive_tables
from oie.tables import DERIVED, HIERARCHY, LOADED, SCHEMAS, spec
from oie.warehouse.duckdb_adapter import DuckDBWarehouse

VERSION = "2"  # bump when the generated rows change
SEED = 20240601
ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = ROOT / "bench-data"
BUILD_MEMORY = "8GB"

# The real relation vocabulary, weighted like the course's relations.csv.
RELATION_WEIGHTS = {
    "at": 861, "holds": 658, "on": 550, "interacts_with": 272, "plays": 175,
    "inside_of": 161, "hits": 54, "wears": 34, "under": 3,
}  # fmt: skip
SUBJECT_RANKS = 60  # Label1 is one of the 60 most common boxable classes (people, mostly)


@dataclass(frozen=True)
class Scale:
    name: str
    classes_file: str  # under $OIE_ASSETS/openimages/
    header: bool
    images: int
    labels: int  # image_labels rows (exactly)
    draws: tuple[int, int]  # labels drawn per image: uniform in [low, high], then made distinct
    relations: int


SCALES = {
    "course": Scale("course", "classes.csv", True, 91_200, 550_809, (2, 11), 2_768),
    "full": Scale(
        "full", "oidv6-class-descriptions.csv", False, 9_000_000, 60_000_000, (2, 12), 3_300_000
    ),
}


def assets_dir() -> Path:
    configured = os.environ.get("OIE_ASSETS", "").strip()
    return Path(configured) if configured else ROOT.parent / "shared" / "assets"


def bench_file(scale: str) -> Path:
    return DATA_DIR / f"{scale}.duckdb"


def _meta(scale: Scale) -> dict[str, str]:
    return {"version": VERSION, "scale": repr(scale), "seed": str(SEED)}


def derived_fingerprint() -> str:
    """sha256 over each derived table's name, select and order_by (`oie.tables.DERIVED`)."""
    digest = hashlib.sha256()
    for d in DERIVED:
        digest.update(repr((d.name, d.select, d.order_by)).encode())
    return digest.hexdigest()


State = Literal["missing", "derive", "current"]


def state(path: Path, scale: Scale) -> State:
    """`current`: this generator's raw data for `scale` and derived tables of today's DERIVED;
    `derive`: the raw data is current but the derived tables are not; else `missing`."""
    if not path.is_file():
        return "missing"
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            meta = dict(con.execute("SELECT key, value FROM bench_meta").fetchall())
            tables = {
                r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()
            }
    except duckdb.Error:
        return "missing"
    fingerprint = meta.pop("derived", None)
    if meta != _meta(scale) or not set(LOADED) <= tables:
        return "missing"
    derived = {d.name for d in DERIVED} <= tables and fingerprint == derived_fingerprint()
    return "current" if derived else "derive"


def _load_hierarchy(path: Path, assets: Path) -> None:
    """The assets' class hierarchy, checked and loaded as `oie import` loads it."""
    warehouse = DuckDBWarehouse(path, memory_limit=BUILD_MEMORY)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            source = assets / "openimages" / "bbox_labels_600_hierarchy.json"
            clean, _report = check_hierarchy(source, Path(tmp))
            warehouse.load_csv(HIERARCHY, spec(HIERARCHY).columns, clean)
    finally:
        warehouse.close()


def _derive(path: Path) -> None:
    """(Re)build the derived tables in `path`, then record their fingerprint."""
    warehouse = DuckDBWarehouse(path, memory_limit=BUILD_MEMORY)
    try:
        derive_tables(warehouse)
        warehouse.query("DELETE FROM bench_meta WHERE key = 'derived'")
        warehouse.query(
            "INSERT INTO bench_meta VALUES ('derived', @fingerprint)",
            {"fingerprint": derived_fingerprint()},
        )
        warehouse.query("CHECKPOINT")
    finally:
        warehouse.close()


def _uniform(*keys: str) -> str:
    """SQL for a uniform double in [0, 1) from the hash of `keys` and the seed."""
    return f"((hash({', '.join(keys)}, {SEED}) >> 11) / 9007199254740992.0)"


def _zipf_rank(n: int, *keys: str) -> str:
    """SQL for a rank in 1..n with P(r) ~ 1/r (log-uniform): rank 1 is the most common."""
    return f"least(floor(pow({n + 1}, {_uniform(*keys)}))::BIGINT, {n})"


def _relation_case(u: str) -> str:
    total = sum(RELATION_WEIGHTS.values())
    whens, cumulative = [], 0
    for name, weight in RELATION_WEIGHTS.items():
        cumulative += weight
        whens.append(f"WHEN {u} < {cumulative / total!r} THEN '{name}'")
    return f"CASE {' '.join(whens)} ELSE 'under' END"


def _load_classes(con: duckdb.DuckDBPyConnection, scale: Scale, assets: Path) -> None:
    columns = {"Label": "VARCHAR", "Description": "VARCHAR"}
    read = (
        "read_csv($path, header = $header, columns = $columns, auto_detect = false,"
        " quote = '\"', escape = '\"')"
    )
    con.execute(
        f"CREATE TABLE classes AS SELECT * FROM {read}",
        {"path": str(assets / "openimages" / scale.classes_file), "header": scale.header,
         "columns": columns},
    )  # fmt: skip
    con.execute(
        f"CREATE TEMP TABLE boxable AS SELECT Label FROM {read}",
        {"path": str(assets / "openimages" / "class-descriptions-boxable.csv"), "header": False,
         "columns": columns},
    )  # fmt: skip
    # Popularity ranks: the boxable classes first (as in Open Images), each group shuffled.
    con.execute(
        f"""CREATE TEMP TABLE ranked AS
        SELECT Label, row_number() OVER (
            ORDER BY Label IN (SELECT Label FROM boxable) DESC, hash(Label, {SEED})) AS rank
        FROM classes"""
    )


def _generate_labels(con: duckdb.DuckDBPyConnection, scale: Scale) -> None:
    n_classes = con.execute("SELECT count(*) FROM ranked").fetchall()[0][0]
    low, high = scale.draws
    draws = f"({low} + hash(i, 'k', {SEED}) % {high - low + 1})::BIGINT"
    rank = _zipf_rank(n_classes, "i", "j", "'label'")
    # Insertion order is preserved, so LIMIT keeps the same rows on every run.
    con.execute(
        f"""CREATE TEMP TABLE drawn AS
        SELECT i, unnest(list_distinct(list_transform(range({draws}), lambda j: {rank}))) AS rank
        FROM range({scale.images}) AS t(i)
        LIMIT {scale.labels}"""
    )
    con.execute(
        f"""CREATE TABLE image_labels AS
        SELECT printf('%016x', hash(i, {SEED})) AS ImageId, Label
        FROM drawn JOIN ranked USING (rank)"""
    )


def _generate_relations(con: duckdb.DuckDBPyConnection, scale: Scale) -> None:
    images = con.execute("SELECT max(i) + 1 FROM drawn").fetchall()[0][0]
    n_boxable = con.execute("SELECT count(*) FROM boxable").fetchall()[0][0]
    pick = _uniform("r", "'image'")
    image = f"floor({pick} * {images})::BIGINT"
    con.execute(
        f"""CREATE TABLE relations AS
        SELECT printf('%016x', hash({image}, {SEED})) AS ImageId, c1.Label AS Label1,
               {_relation_case(_uniform("r", "'relation'"))} AS Relation, c2.Label AS Label2
        FROM range({scale.relations}) AS t(r)
        JOIN ranked AS c1 ON c1.rank = {_zipf_rank(SUBJECT_RANKS, "r", "'label1'")}
        JOIN ranked AS c2 ON c2.rank = {_zipf_rank(n_boxable, "r", "'label2'")}"""
    )


def generate(scale_name: str, force: bool = False, log=print) -> Path:  # type: ignore[no-untyped-def]
    """The benchmark file for `scale_name`, generated unless already current."""
    scale = SCALES[scale_name]
    path = bench_file(scale.name)
    found = "missing" if force else state(path, scale)
    if found == "current":
        log(f"{path}: up to date (generator v{VERSION}, {scale.name})")
        return path
    started = time.monotonic()
    if found == "derive":
        log(f"{path}: raw data current, derived tables stale: re-deriving")
        _derive(path)
        log(f"{path}: derived tables rebuilt in {time.monotonic() - started:.0f} s")
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    building = path.with_name(f"{path.stem}.building.duckdb")
    building.unlink(missing_ok=True)
    with duckdb.connect(str(building), config={"memory_limit": BUILD_MEMORY}) as con:
        _load_classes(con, scale, assets_dir())
        _generate_labels(con, scale)
        _generate_relations(con, scale)
        con.execute("CREATE TABLE bench_meta (key VARCHAR, value VARCHAR)")
        con.executemany("INSERT INTO bench_meta VALUES (?, ?)", list(_meta(scale).items()))
        counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in SCHEMAS}
    log(f"{scale.name}: raw tables {counts} in {time.monotonic() - started:.0f} s")
    _load_hierarchy(building, assets_dir())
    _derive(building)
    building.replace(path)
    log(f"{path}: generated in {time.monotonic() - started:.0f} s")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", action="append", choices=sorted(SCALES))
    parser.add_argument("--force", action="store_true", help="regenerate even if up to date")
    args = parser.parse_args(argv)
    for scale in args.scale or ["course"]:
        generate(scale, args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
