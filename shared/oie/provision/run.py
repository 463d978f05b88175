"""The steps in order; applying them (`provision`) or listing them (`dry_run`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from .. import settings as settings_mod
from .. import tables
from ..errors import OIEError
from ..settings import Settings
from . import bigquery, pubsub, storage
from .clients import endpoints
from .config import STAGED_FILES, Config, ProvisionError, course_csvs
from .steps import Outcome, Run, Step

T = TypeVar("T")


def plan(run: Run) -> list[Step]:
    """Every step of a run, in the order they apply; making them contacts nothing."""
    c = run.config
    return [
        *(storage.bucket_step(run, name) for name in (c.bucket, c.data_bucket)),
        *(pubsub.topic_step(run, topic) for topic in (c.topic, c.dead_letter_topic)),
        pubsub.hold_step(run),
        bigquery.dataset_step(run),
        *(bigquery.table_step(run, name) for name in bigquery.table_names()),
        *(storage.object_step(run, asset) for asset in STAGED_FILES),
        *(bigquery.load_step(run, asset) for asset in STAGED_FILES),
        *(bigquery.derive_step(run, derived) for derived in tables.DERIVED),
    ]


def dry_run(config: Config, settings: Settings | None = None) -> list[str]:
    """The lines of a dry run: where each service is reached, then each step's description."""
    config.validate()
    run = Run(config, settings or settings_mod.load())
    where = ", ".join(f"{k}: {v}" for k, v in endpoints(run.settings).items())
    return [f"# dry run, nothing contacted; {where}",
            *(f"{step.label}: {step.describe()}" for step in plan(run))]  # fmt: skip


def _describe(exc: BaseException) -> str:
    from google.api_core.exceptions import GoogleAPIError

    if isinstance(exc, OIEError) and isinstance(exc.__cause__, GoogleAPIError):
        exc = exc.__cause__  # the service's own words, for whoever provisions
    code, message = getattr(exc, "code", None), getattr(exc, "message", None)
    text = f"{code} {message}" if isinstance(code, int) and message else str(exc)
    return " ".join(text.split()) or type(exc).__name__


def _guarded(label: str, action: Callable[[], T]) -> T:
    """`action()`, its expected failures (access denied, not found, bad request, no
    credentials, a failed download) raised as a ProvisionError naming `label`."""
    from google.api_core.exceptions import GoogleAPIError
    from google.auth.exceptions import GoogleAuthError

    try:
        return action()
    except (GoogleAPIError, GoogleAuthError, OIEError, OSError) as exc:
        raise ProvisionError(f"{label}: {_describe(exc)}") from exc


def provision(
    config: Config,
    report: Callable[[Outcome], None] | None = None,
    settings: Settings | None = None,
) -> list[Outcome]:
    """Apply every step in order; return (and `report`, as they happen) the outcomes.

    Bad input fails before anything changes. Raises ProvisionError, naming the resource.
    """
    config.validate()
    run = Run(config, settings or settings_mod.load())
    run.files = _guarded("course CSVs", lambda: course_csvs(config, run.settings))
    outcomes: list[Outcome] = []
    try:
        for step in plan(run):
            outcome = _guarded(step.label, step.apply)
            outcomes.append(outcome)
            if report is not None:
                report(outcome)
    finally:
        run.clients.close()
    return outcomes
