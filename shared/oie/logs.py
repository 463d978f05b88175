"""The one logging path: a JSON object a line on stderr, as Cloud Logging reads a Cloud
Function's output ("severity", "message", and the fields given).

python-json-logger formats the records; one `logging.StreamHandler` writes each record in a
single call under its lock, so lines from threads never interleave.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

from pythonjsonlogger.json import JsonFormatter

logger = logging.getLogger("oie")
LEVELS = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARNING": logging.WARNING,
          "ERROR": logging.ERROR, "CRITICAL": logging.CRITICAL}  # fmt: skip


class _Stderr(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is at the time (a test's capture, a redirect)."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def _configure() -> None:
    handler = _Stderr()
    formatter = JsonFormatter("{levelname}{message}", style="{", json_default=str,
                              rename_fields={"levelname": "severity"},
                              json_ensure_ascii=False)  # fmt: skip
    handler.setFormatter(formatter)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


_configure()


# A field named like a LogRecord attribute ("name", "args", ...) would be refused by `logging`.
_RESERVED = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "severity"}


def log(severity: str, message: str, **fields: Any) -> None:
    """One record: `severity` as Cloud Logging names it, the message, and `fields` beside it."""
    extra = {(f"{k}_" if k in _RESERVED else k): v for k, v in fields.items()}
    logger.log(LEVELS.get(severity, logging.INFO), message, extra=extra)
