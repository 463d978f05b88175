"""HTTP function `class_info`: one class in Open Images' hierarchy, with its neighbours."""

import functions_framework

from oie.app import current
from oie.web import pages


@functions_framework.http
def class_info(request):
    return pages.class_info(request, current())
