"""HTTP function `results`: the latest classification of each object, filtered and paged."""

import functions_framework

from oie.app import current
from oie.web import results as pages


@functions_framework.http
def results(request):
    return pages.results(request, current())
