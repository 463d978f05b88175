"""A step of provisioning: one resource, which describes itself (the dry run) and applies
itself; and the run the steps share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..settings import Settings
from .clients import Clients
from .config import Config


@dataclass(frozen=True)
class Outcome:
    """What one step did to one resource."""

    kind: str  # bucket, topic, subscription, dataset, table, object
    name: str
    status: str  # created exists updated uploaded loaded kept derived planned
    message: str = ""  # the whole answer when set, e.g. "loaded 601 rows"
    rows: int | None = None

    def __str__(self) -> str:
        return f"{self.kind} {self.name}: {self.message or self.status}"


@dataclass(frozen=True)
class Result:
    """What applying a step did; its Outcome adds the step's kind and name."""

    status: str
    message: str = ""
    rows: int | None = None


def noted(status: str, notes: list[str], rows: int | None = None) -> Result:
    """A result whose message is its status and, in parentheses, the notes."""
    return Result(status, f"{status} ({'; '.join(notes)})" if notes else status, rows)


@dataclass(frozen=True)
class Step:
    """One resource's step: `describe()` for the dry run, `apply()` to do it."""

    kind: str
    name: str
    description: str
    action: Callable[[], Result]

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name}"

    def describe(self) -> str:
        return self.description

    def apply(self) -> Outcome:
        done = self.action()
        return Outcome(self.kind, self.name, done.status, done.message, done.rows)


@dataclass
class Run:
    """What the steps of one run share: its clients, and what earlier steps found."""

    config: Config
    settings: Settings
    clients: Clients = field(init=False)
    files: dict[str, Path] = field(default_factory=dict)  # the course CSVs, by table
    changed: set[str] = field(default_factory=set)  # tables whose staged CSV was replaced
    loaded: bool = False  # a table was loaded: the derived tables are rebuilt
    rebuild: bool | None = None  # decided once, by the first derived table's step

    def __post_init__(self) -> None:
        self.clients = Clients(self.config, self.settings)
