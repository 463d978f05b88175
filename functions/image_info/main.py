"""HTTP function `image_info`: one image's classes, its relations and the photo."""

import functions_framework

from oie.app import current
from oie.web import pages


@functions_framework.http
def image_info(request):
    return pages.image_info(request, current())
