"""Errors every entry point answers the same way: each class carries its HTTP status.

The message (`str(exc)`) is for the user and safe to show on a public page; `detail` is
for the log only (table names, paths, a service's own words).
"""


class Unavailable(RuntimeError):
    """A resource the answer needs cannot be used now (data not imported, no model, ...): 503."""

    status = 503
    retry_after: int | None = None  # seconds, sent as Retry-After when set

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.detail = detail


class Busy(Unavailable):
    """A service is over quota, rate-limited or down for now: try again shortly."""

    retry_after = 30


class Failure(RuntimeError):
    """Our own bug surfaced by a service (e.g. a statement it refused): 500, logged with an id."""

    status = 500

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail
