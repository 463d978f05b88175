"""HTTP function `classes`: every class that has images, with its number of images, by name."""

import functions_framework

from oie.app import current
from oie.web import pages


@functions_framework.http
def classes(request):
    return pages.classes(request, current())
