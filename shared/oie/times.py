"""ISO 8601 times as users and Google's events write them."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_time(text: str) -> datetime:
    """An ISO 8601 date or time ("Z" for UTC); without a zone, UTC. Raises ValueError."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def parse_event_time(text: str) -> datetime:
    """An event's RFC 3339 time, in UTC. Unlike a user's `since`, an event's time must name
    its zone (the platform always does): a time without one is a forged or broken event, not
    UTC by guess. Raises ValueError."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"time {text!r} has no zone")
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:  # year 1 at +14:00 is before datetime.min in UTC
        raise ValueError(f"time {text!r} is out of range") from exc
