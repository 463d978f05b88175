"""ImageId <-> ImageKey: the warehouse stores 16-hex-digit ids as order-preserving INT64."""

from __future__ import annotations

import re

IMAGE_ID = re.compile(r"^[0-9a-fA-F]{16}$")  # an Open Images ImageId

OFFSET = 1 << 63
MIN_KEY, MAX_KEY = -OFFSET, OFFSET - 1


def image_key(image_id: str) -> int:
    return int(image_id, 16) - OFFSET


def image_id(key: int) -> str:
    return f"{key + OFFSET:016x}"
