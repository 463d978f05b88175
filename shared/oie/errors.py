"""The project's errors: each class carries its HTTP status, and `problem()` is the one path
from any exception to what a user is told (pages, uploads and events alike).

The message (`str(exc)`) is for the user and safe to show on a public page; `detail` is
for the log only (table names, paths, a service's own words).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from .logs import logger as log


class OIEError(Exception):
    """Base of the project's errors; a bare one is a 500."""

    status = 500
    retry_after: int | None = None  # seconds, sent as Retry-After when set

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.detail = detail


class InputError(OIEError, ValueError):
    """Input the caller must fix; `param` names the field when there is one."""

    status = 400

    def __init__(self, param: str | None, message: str):
        super().__init__(f"{param}: {message}" if param else message)
        self.param = param
        self.message = message


class TooLarge(InputError):
    status = 413


class NotAllowed(InputError):
    """A method the endpoint does not take; `allow` lists those it does."""

    status = 405

    def __init__(self, message: str, allow: str):
        super().__init__(None, message)
        self.allow = allow


class BadEvent(InputError):
    """An event that can never be processed (permanent): logged and acknowledged."""

    def __init__(self, message: str):
        super().__init__(None, message)


class Gone(OIEError):
    """The thing asked for no longer exists (permanent)."""

    status = 404


class Unavailable(OIEError):
    """A resource the answer needs cannot be used now (data not imported, no model, ...): 503."""

    status = 503


class Busy(Unavailable):
    """A service is over quota, rate-limited or down for now: try again shortly."""

    retry_after = 30


class Failure(OIEError):
    """Our own bug surfaced by a service (e.g. a statement it refused): 500, logged with an id."""

    def __init__(self, detail: str):
        super().__init__(detail, detail)


@dataclass(frozen=True)
class Problem:
    """What a caller is told about a failure."""

    status: int
    message: str
    param: str | None = None
    retry_after: int | None = None
    allow: str | None = None  # 405: the methods that are allowed
    error_id: str | None = None  # 500: quote it to find the log entry


def problem(exc: BaseException, where: str) -> Problem:
    """The answer to `exc`, logged once: input errors as they are, 503 with the public
    message (detail to the log), anything else a 500 whose id alone is shown."""
    if isinstance(exc, InputError):
        return Problem(exc.status, exc.message, exc.param, allow=getattr(exc, "allow", None))
    if isinstance(exc, OIEError) and exc.status < 500:
        return Problem(exc.status, str(exc))
    if isinstance(exc, Unavailable):
        log.error("unavailable on %s: %s%s", where, exc, f" ({exc.detail})" if exc.detail else "")
        return Problem(exc.status, f"Not available: {exc}", retry_after=exc.retry_after)
    error_id = uuid.uuid4().hex[:12]
    if isinstance(exc, Failure):
        log.error("failed on %s [error %s]: %s", where, error_id, exc.detail)
    else:
        log.error("failed on %s [error %s]", where, error_id, exc_info=exc)
    message = f"Something went wrong on our side; it has been logged as error {error_id}."
    return Problem(500, message, error_id=error_id)
