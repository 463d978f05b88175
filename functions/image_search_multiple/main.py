"""HTTP function `image_search_multiple`: images with any or all of several classes."""

import functions_framework

from oie.app import current
from oie.web import pages


@functions_framework.http
def image_search_multiple(request):
    return pages.image_search_multiple(request, current())
