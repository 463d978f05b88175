"""What the classifier functions run for each event: parse, classify once, acknowledge."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import Problem, problem
from .events import ClassifyRequest, dropped, from_cloudevent
from .runner import current_generation

if TYPE_CHECKING:
    from ..app import App


class EventFailed(Exception):
    """An event that may succeed later (a 5xx), already logged: the platform delivers it
    again. Its answer (`oie.web.framework.event_failed`) says why, as a page would."""

    def __init__(self, answer: Problem):
        super().__init__(answer.message)
        self.answer = answer


def handle_event(event: Any, classifier: str, app: App) -> str:
    """Returns the outcome. An event that can never succeed (a 4xx) is logged once, as
    "event dropped: why", and acknowledged; anything else raises, so the platform delivers
    the event again."""
    request: ClassifyRequest | None = None
    try:
        request = current_generation(from_cloudevent(event), app.blobstore)
        return app.runner(classifier).handle(request)
    except Exception as exc:
        answer = problem(exc, f"{classifier} event {event['id']}")
        if answer.status >= 500:
            raise EventFailed(answer) from exc
        dropped(answer.message, key=request.key if request else "", event_id=event["id"],
                classifier=classifier, status=answer.status)  # fmt: skip
        return "bad-event"
