"""SQL LIKE patterns matched in memory, in time bounded by construction (no backtracking).

Semantics (those of `LIKE ... ESCAPE '\\'`, case-insensitive): `%` matches any run of
characters (none included), `_` exactly one character, a backslash makes the next character
literal (a trailing backslash is itself literal); every other character matches itself,
ignoring case as `re.IGNORECASE` does, one character for one.

Why not one regex with `.*` for each `%`: adjacent or repeated `.*` backtrack exponentially
(`%%%%%%%%%%%!` over 20k class names took 30 s). Here runs of `%` collapse to one, which
splits the pattern into segments without `%`, each of fixed length. The first segment must
match at the start, the last at the end, and each one between at its leftmost place after
the previous one. Leftmost is always right: an earlier end leaves more text for the rest,
so nothing is ever undone. A middle segment is `(?>.*?SEGMENT)`, an atomic group the engine
cannot backtrack into, so each segment is tried once at each position: at most
len(text) x len(pattern) character comparisons, with no blowup however the pattern is made.
Names shorter than the pattern's fixed characters are refused before any regex runs.

Patterns reach here from query parameters, which `oie.web.params.MAX_TEXT` limits to 200
characters; with class names under ~100 characters that bounds a name's cost to ~20k
comparisons in C, and a hostile pattern over 20k names to well under a second.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

FLAGS = re.IGNORECASE | re.DOTALL
MATCHERS_CACHED = 1024  # compiled patterns kept per process


def segments(pattern: str) -> list[tuple[str, int]]:
    """The pattern split at its (unescaped) `%` runs: each segment as a regex without
    quantifiers, with the number of characters it matches.

    A pattern with k runs of `%` gives k + 1 segments; the first or last is ("", 0) when the
    pattern starts or ends with `%`.
    """
    out: list[tuple[str, int]] = []
    current: list[str] = []
    chars: Iterator[str] = iter(pattern)
    after_percent = False
    for ch in chars:
        if ch == "%":
            if not after_percent:
                out.append(("".join(current), len(current)))
                current = []
            after_percent = True
            continue
        after_percent = False
        if ch == "\\":
            current.append(re.escape(next(chars, "\\")))
        elif ch == "_":
            current.append(".")
        else:
            current.append(re.escape(ch))
    out.append(("".join(current), len(current)))
    return out


@dataclass(frozen=True)
class Like:
    """A compiled LIKE pattern: `Like.of(pattern)(text)` is whether `text` matches."""

    pattern: str
    _head: re.Pattern[str]  # the first and the middle segments, anchored at the start
    _tail: re.Pattern[str] | None  # the last segment, anchored at the end (None: no `%`)
    _tail_width: int
    _min_len: int  # fixed characters of the pattern: a shorter text cannot match
    everything: bool  # only `%`: every text matches

    @staticmethod
    def of(pattern: str) -> Like:
        return _compile(pattern)

    def __call__(self, text: str) -> bool:
        n = len(text)
        if n < self._min_len:
            return False
        if self._tail is None:  # no `%`: one fixed-length segment for the whole text
            return n == self._min_len and self._head.match(text) is not None
        head, start = self._head.match(text), n - self._tail_width
        return bool(head and head.end() <= start and self._tail.match(text, start))


@lru_cache(maxsize=MATCHERS_CACHED)
def _compile(pattern: str) -> Like:
    parts = segments(pattern)
    (first, _), (last, last_width) = parts[0], parts[-1]
    tail: re.Pattern[str] | None = None
    if len(parts) == 1:
        head = re.compile(first, FLAGS)
    else:
        middles = "".join(f"(?>.*?{regex})" for regex, _ in parts[1:-1])
        head = re.compile(first + middles, FLAGS)
        tail = re.compile(last + r"\Z", FLAGS)
    everything = pattern != "" and set(pattern) == {"%"}
    return Like(pattern, head, tail, last_width, sum(w for _, w in parts), everything)


def like(pattern: str, text: str) -> bool:
    """Whether `text` matches the SQL LIKE `pattern` (see the module's docstring)."""
    return Like.of(pattern)(text)
