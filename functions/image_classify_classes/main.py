"""HTTP function `image_classify_classes`: the classes the TFLite model knows."""

import functions_framework

from oie.app import current
from oie.web import uploads


@functions_framework.http
def image_classify_classes(request):
    return uploads.image_classify_classes(request, current())
