"""What functions-framework answers by itself, made safe to show.

Its 400 for a request that is not a CloudEvent quotes every request header back (an
Authorization token, a Cookie) and the whole body. The CloudEvent functions register
`http_error` (functions-framework's documented `errorhandler`) so such answers say what is
wrong in one sentence, in the project's JSON error shape, and echo nothing; and
`event_failed`, so an event that fails for now is answered with its reason (and status,
and Retry-After) rather than the framework's bare 500.
"""

from __future__ import annotations

import json

import flask
from werkzeug.exceptions import HTTPException

from ..pipeline.handlers import EventFailed

__all__ = ["EventFailed", "HTTPException", "event_failed", "http_error"]

NOT_A_CLOUDEVENT = (
    "not a CloudEvent: send a structured (application/cloudevents+json) or binary-mode "
    "CloudEvent, as Eventarc and Pub/Sub push do"
)


def http_error(error: HTTPException) -> flask.Response:
    status = error.code or 500
    message = NOT_A_CLOUDEVENT if status == 400 else error.name
    body = json.dumps({"ok": False, "status": status, "error": message})
    response = flask.Response(body, status, mimetype="application/json")
    allow = error.get_response().headers.get("Allow")  # a 405 lists the allowed methods
    if allow:
        response.headers["Allow"] = allow
    return response


def event_failed(error: EventFailed) -> flask.Response:
    answer = error.answer
    body = {"ok": False, "status": answer.status, "error": answer.message}
    if answer.error_id:
        body["error_id"] = answer.error_id
    response = flask.Response(json.dumps(body), answer.status, mimetype="application/json")
    if answer.retry_after:
        response.headers["Retry-After"] = str(answer.retry_after)
    return response
