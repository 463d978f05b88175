"""HTTP function `index`: the start page: one form per endpoint, with the seed app's defaults."""

import functions_framework

from oie.app import current
from oie.web import pages


@functions_framework.http
def index(request):
    return pages.index(request, current())
