"""HTTP function `relation_search`: relations matching "class relation class" LIKE patterns."""

import functions_framework

from oie.app import current
from oie.web import pages


@functions_framework.http
def relation_search(request):
    return pages.relation_search(request, current())
