"""The LIKE matcher: SQL's semantics (checked against SQLite and DuckDB), in bounded time."""

from __future__ import annotations

import csv
import random
import sqlite3
import time
from pathlib import Path

import duckdb
import pytest

from oie.patterns import Like, like

ALPHABET = "aAbBzZ.*(?[$^|\n é"  # letters in both cases and regex syntax as plain text
SECONDS = 2.0  # generous: a backtracking matcher takes minutes on these


@pytest.fixture(scope="module")
def names(assets: Path) -> list[str]:
    """Every class name of Open Images (about 20k), the catalog's full size."""
    with open(assets / "openimages" / "oidv6-class-descriptions.csv", newline="") as fh:
        return [row[1] for row in list(csv.reader(fh))[1:]]


def random_pattern(rng: random.Random, alphabet: str) -> str:
    """Up to 8 items: characters, `%`, `_` and escapes (a backslash never ends it)."""
    items = []
    for _ in range(rng.randint(0, 8)):
        kind = rng.random()
        if kind < 0.25:
            items.append("%")
        elif kind < 0.4:
            items.append("_")
        elif kind < 0.5:
            items.append("\\" + rng.choice(alphabet + "%_\\"))
        else:
            items.append(rng.choice(alphabet))
    return "".join(items)


def test_agrees_with_sqlite_on_random_patterns() -> None:
    db = sqlite3.connect(":memory:")  # its LIKE ignores the case of ASCII letters only
    ascii_chars = ALPHABET.replace("é", "")
    rng = random.Random(12)
    for _ in range(20_000):
        pattern = random_pattern(rng, ascii_chars)
        text = "".join(rng.choice(ascii_chars + "%_\\") for _ in range(rng.randint(0, 8)))
        (expected,) = db.execute("SELECT ? LIKE ? ESCAPE '\\'", (text, pattern)).fetchone()
        assert like(pattern, text) == bool(expected), (pattern, text)


def test_agrees_with_duckdb_ilike_over_the_class_names(names: list[str]) -> None:
    """Patterns cut from real names (unicode included), over every name at once."""
    con = duckdb.connect()
    con.execute("CREATE TABLE names AS SELECT unnest($names) AS name", {"names": names})
    rng = random.Random(7)
    matched = 0
    for _ in range(60):
        name = rng.choice(names)
        chars = [
            "_" if rng.random() < 0.15 else "%" if rng.random() < 0.15 else ch.swapcase()
            for ch in name[: rng.randint(1, 12)]
        ]
        pattern = rng.choice(["", "%"]) + "".join(chars) + rng.choice(["", "%"])
        pattern = pattern.replace("\\", "\\\\")
        expected = con.execute(
            "SELECT name FROM names WHERE name ILIKE $p ESCAPE '\\' ORDER BY name", {"p": pattern}
        ).fetchall()
        match = Like.of(pattern)
        assert sorted(n for n in names if match(n)) == [n for (n,) in expected], pattern
        matched += bool(expected)
    assert matched > 30, "most patterns should match some name"


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        ("", "", True), ("", "a", False), ("%", "", True), ("%%", "anything", True),
        ("_", "", False), ("_", "\n", True), ("a_c", "abbc", False), ("a%c", "ac", True),
        ("CAT", "cat", True), ("c%T", "Coat", True), ("%an", "Woman", True),
        ("a.c", "abc", False), ("(x", "(x", True), ("\\%", "%", True), ("\\%", "a", False),
        ("\\_", "_", True), ("\\_", "a", False), ("a\\\\b", "a\\b", True),
        ("a\\", "a\\", True),  # a trailing backslash is itself (SQL engines refuse it)
        ("%a%b%a%", "abba", True), ("%a%b%a%", "abb", False), ("%ab%ba%", "aba", False),
        ("%ab%ba%", "abba", True), ("%ab%a", "ab", False), ("a%a", "a", False),
        ("_%_", "a", False), ("_%_", "ab", True),
    ],
)  # fmt: skip
def test_semantics(pattern: str, text: str, matches: bool) -> None:
    assert like(pattern, text) is matches


def test_everything() -> None:
    assert Like.of("%").everything and Like.of("%%%").everything
    assert not Like.of("").everything and not Like.of("\\%").everything
    assert not Like.of("%_").everything


HOSTILE = [
    *("%" * n + "!" for n in (20, 40, 60, 80, 100)),
    "_%" * 50, "%_" * 50 + "!", "%" + "_" * 40 + "!", "%a" * 60 + "%!", "%e%" * 30 + "q",
    "%" + "a_" * 60 + "%", "%" + "\\%" * 50 + "%!", "_" * 199 + "%",
]  # fmt: skip


@pytest.mark.parametrize("pattern", HOSTILE, ids=lambda p: f"{p[:12]}..{len(p)}")
def test_hostile_patterns_take_no_time(names: list[str], pattern: str) -> None:
    match = Like.of(pattern)
    start = time.perf_counter()
    found = [n for n in names if match(n)]
    took = time.perf_counter() - start
    assert took < SECONDS, f"{took:.2f} s over {len(names)} names"
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE names (name)")
    db.executemany("INSERT INTO names VALUES (?)", [(n,) for n in names])
    expected = db.execute("SELECT name FROM names WHERE name LIKE ? ESCAPE '\\'", (pattern,))
    assert found == [n for (n,) in expected]
