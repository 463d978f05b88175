"""HTTP function `relations`: every relation type, with its number of relations and of images."""

import functions_framework

from oie.app import current
from oie.web import pages


@functions_framework.http
def relations(request):
    return pages.relations(request, current())
