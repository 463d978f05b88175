"""Open Images' class hierarchy (`bbox_labels_600_hierarchy.json`): read, check, walk.

The file nests `{"LabelName": ..., "Subcategory": [...], "Part": [...]}` objects. A class may
appear under several parents (the file repeats it), so the classes form a DAG, stored as
(parent, child, kind) edges. `Subcategory` is "is a"; `Part` is "has a" and is never
followed when a search includes subclasses.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from ..errors import OIEError
from .formats import LABEL

Kind = Literal["Subcategory", "Part"]
KINDS: tuple[Kind, ...] = ("Subcategory", "Part")
ROOT = "/m/0bl9f"  # the file's root, "Entity"; it is in no class descriptions file
ROOT_NAME = "Entity"
MAX_DEPTH = 100  # deeper nesting than this is no class hierarchy
MAX_PATHS = 20  # paths to the root listed for one class


class BadHierarchy(OIEError, ValueError):
    """A hierarchy file that cannot be used; nothing was changed."""

    status = 400


@dataclass(frozen=True, order=True)
class Edge:
    parent: str
    child: str
    kind: Kind


def parse(raw: bytes | str, where: str = "hierarchy") -> list[Edge]:
    """The edges of a hierarchy file, checked: keys, labels, nesting and cycles."""
    try:
        tree = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadHierarchy(f"{where} is not JSON: {exc}") from None
    edges: set[Edge] = set()
    _walk(tree, (), edges, where)
    if not edges:
        raise BadHierarchy(f"{where} has no Subcategory or Part entries: not a class hierarchy")
    _check_acyclic(edges, where)
    return sorted(edges)


def read(path: Path) -> list[Edge]:
    if not path.is_file():
        raise BadHierarchy(f"{path}: no such file")
    return parse(path.read_bytes(), str(path))


def _walk(node: Any, above: tuple[str, ...], edges: set[Edge], where: str) -> str:
    at = " > ".join(above) or "the top"
    if not isinstance(node, dict):
        raise BadHierarchy(f"{where}: under {at}, expected an object, got {type(node).__name__}")
    extra = set(node) - {"LabelName", *KINDS}
    if extra or "LabelName" not in node:
        got = ", ".join(sorted(map(str, node))) or "no keys"
        raise BadHierarchy(
            f"{where}: under {at}, an entry has keys {got}; expected LabelName with optional "
            "Subcategory and Part"
        )
    label = node["LabelName"]
    if not isinstance(label, str) or not LABEL.match(label):
        raise BadHierarchy(f"{where}: under {at}, LabelName {label!r} is not an id like /m/01yrx")
    if label in above:
        cycle = " > ".join((*above[above.index(label) :], label))
        raise BadHierarchy(f"{where}: a cycle: {cycle}")
    if len(above) >= MAX_DEPTH:
        raise BadHierarchy(f"{where}: nested deeper than {MAX_DEPTH} levels at {label}")
    for kind in KINDS:
        children = node.get(kind, [])
        if not isinstance(children, list):
            raise BadHierarchy(f"{where}: {label}'s {kind} is not a list")
        for child in children:
            edges.add(Edge(label, _walk(child, (*above, label), edges, where), kind))
    return label


def _check_acyclic(edges: Iterable[Edge], where: str) -> None:
    """A class repeated in several places may still close a loop across them."""
    below: dict[str, list[str]] = {}
    for e in edges:
        below.setdefault(e.parent, []).append(e.child)
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in sorted(below):
        if state.get(start):
            continue
        path, stack = [start], [iter(below.get(start, ()))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                cycle = " > ".join((*path[path.index(nxt) :], nxt))
                raise BadHierarchy(f"{where}: a cycle: {cycle}")
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(below.get(nxt, ())))


@dataclass(frozen=True)
class Hierarchy:
    """The edges in memory, with the walks the pages need."""

    edges: tuple[Edge, ...] = ()
    _parents: dict[str, list[Edge]] = field(default_factory=dict, compare=False, repr=False)
    _children: dict[str, list[Edge]] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for e in sorted(self.edges):
            self._parents.setdefault(e.child, []).append(e)
            self._children.setdefault(e.parent, []).append(e)

    def __contains__(self, label: str) -> bool:
        return label in self._parents or label in self._children

    def parents(self, label: str) -> list[Edge]:
        return list(self._parents.get(label, ()))

    def children(self, label: str, kind: Kind = "Subcategory") -> list[str]:
        return [e.child for e in self._children.get(label, ()) if e.kind == kind]

    def below(self, label: str) -> list[str]:
        """Every class under `label` by Subcategory edges, transitively, itself excluded."""
        return list(self._below.get(label, ()))

    @cached_property
    def _below(self) -> dict[str, tuple[str, ...]]:
        out: dict[str, tuple[str, ...]] = {}

        def visit(label: str) -> tuple[str, ...]:
            if label not in out:
                found: set[str] = set()
                for child in self.children(label):
                    found.add(child)
                    found.update(visit(child))
                out[label] = tuple(sorted(found))
            return out[label]

        for label in list(self._children):
            visit(label)
        return out

    def paths_to_root(self, label: str, limit: int = MAX_PATHS) -> list[list[str]]:
        """Paths from `label` up to a class with no parent (any edge kind), shortest first."""
        paths: list[list[str]] = []
        todo = [[label]]
        while todo and len(paths) < limit:
            path = todo.pop(0)
            ups = self._parents.get(path[-1], [])
            if not ups:
                if len(path) > 1:
                    paths.append(path)
                continue
            todo += [[*path, e.parent] for e in ups if e.parent not in path]
        return paths
