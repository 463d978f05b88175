"""CloudEvent function `classify_vision`: label a new object or a requested image with
Cloud Vision and append the result to `classifications`."""

import functions_framework

from oie.app import current
from oie.pipeline.handlers import handle_event
from oie.web.framework import EventFailed, HTTPException, event_failed, http_error

functions_framework.errorhandler(HTTPException)(http_error)
functions_framework.errorhandler(EventFailed)(event_failed)


@functions_framework.cloud_event
def classify_vision(cloud_event):
    handle_event(cloud_event, "vision", current())
