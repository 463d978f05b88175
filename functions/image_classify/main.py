"""HTTP function `image_classify`: POST photos (multipart `files`), get their classes."""

import functions_framework

from oie.app import current
from oie.web import uploads


@functions_framework.http
def image_classify(request):
    return uploads.image_classify(request, current())
