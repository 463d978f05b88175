"""HTTP function `image_search`: images of one class, in ImageId order, page by page."""

import functions_framework

from oie.app import current
from oie.web import pages


@functions_framework.http
def image_search(request):
    return pages.image_search(request, current())
