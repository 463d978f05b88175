"""HTTP function `suggest`: class names for a type-ahead, by word prefix, most images first."""

import functions_framework

from oie.app import current
from oie.web import pages


@functions_framework.http
def suggest(request):
    return pages.suggest(request, current())
