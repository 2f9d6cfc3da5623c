"""How every view answers htmx: one request type, one way to choose page or partial.

Error statuses are real (400, 404, 502…): which of them htmx swaps into the page is decided
once, declaratively, by ``responseHandling`` in ``templates/base.html``.
"""

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    """A request that django-htmx's middleware has annotated with ``request.htmx``."""

    htmx: HtmxDetails


def page_or_partial(request: HtmxHttpRequest, template: str, partial: str) -> str:
    """The whole page, or only its named ``{% partialdef %}`` when htmx asks for it.

    htmx restoring a pushed URL from history (Back) asks for the whole page."""
    wants_partial = request.htmx and not request.htmx.history_restore_request
    return f"{template}#{partial}" if wants_partial else template
