"""HTTP function `label_detection`: POST photos (multipart `files`), get Cloud Vision labels."""

import functions_framework

from oie.app import current
from oie.web import uploads


@functions_framework.http
def label_detection(request):
    return uploads.label_detection(request, current())
