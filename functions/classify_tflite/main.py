"""CloudEvent function `classify_tflite`: classify a new object or a requested image with
the TFLite model and append the result to `classifications`."""

import functions_framework

from oie.app import current
from oie.pipeline.handlers import handle_event
from oie.web.framework import EventFailed, HTTPException, event_failed, http_error

functions_framework.errorhandler(HTTPException)(http_error)
functions_framework.errorhandler(EventFailed)(event_failed)


@functions_framework.cloud_event
def classify_tflite(cloud_event):
    handle_event(cloud_event, "tflite", current())
