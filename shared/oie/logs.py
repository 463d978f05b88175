"""Structured logs: one JSON object a line, as Cloud Functions' logging reads them."""

from __future__ import annotations

import json
import sys
from typing import Any


def log(severity: str, message: str, **fields: Any) -> None:
    record = {"severity": severity, "message": message, **fields}
    print(json.dumps(record, default=str, ensure_ascii=False), file=sys.stderr, flush=True)
