"""What the classifier functions run for each event: parse, classify once, acknowledge."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import problem
from ..logs import log
from .events import from_cloudevent
from .runner import current_generation

if TYPE_CHECKING:
    from ..app import App


def handle_event(event: Any, classifier: str, app: App) -> str:
    """Returns the outcome. An event that can never succeed (a 4xx) is logged and
    acknowledged; anything else raises, so the platform delivers the event again."""
    try:
        request = current_generation(from_cloudevent(event), app.blobstore)
        return app.runner(classifier).handle(request)
    except Exception as exc:
        answer = problem(exc, f"{classifier} event {event['id']}")
        if answer.status >= 500:
            raise
        log("WARNING", f"event dropped: {answer.message}", event_id=event["id"],
            classifier=classifier)  # fmt: skip
        return "bad-event"
