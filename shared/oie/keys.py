"""ImageId <-> ImageKey: the warehouse stores 16-hex-digit ids as order-preserving INT64."""

from __future__ import annotations

import re

# An Open Images ImageId. \A and \Z, not ^ and $: `$` also matches before a trailing
# newline, so IMAGE_ID.match("…\n") would accept it. Callers use fullmatch or is_image_id.
IMAGE_ID = re.compile(r"\A[0-9a-fA-F]{16}\Z")

OFFSET = 1 << 63
MIN_KEY, MAX_KEY = -OFFSET, OFFSET - 1


def is_image_id(value: object) -> bool:
    return isinstance(value, str) and IMAGE_ID.fullmatch(value) is not None


def image_key(image_id: str) -> int:
    return int(image_id, 16) - OFFSET


def image_id(key: int) -> str:
    return f"{key + OFFSET:016x}"
