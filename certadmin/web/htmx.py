"""How every view answers htmx: one request type, one way to choose page or partial.

Error statuses are real (400, 404, 502…): which of them htmx swaps into the page is decided
once, declaratively, by ``responseHandling`` in ``templates/base.html``.
"""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    """A request that django-htmx's middleware has annotated with ``request.htmx``."""

    htmx: HtmxDetails


def partial_wanted(request: HtmxHttpRequest) -> bool:
    """Whether htmx asks for a part of the page (what ``page_or_partial`` renders): a view
    adds what only the whole page shows when this is False.

    htmx restoring a pushed URL from history (Back) asks for the whole page."""
    return bool(request.htmx) and not request.htmx.history_restore_request


def page_or_partial(request: HtmxHttpRequest, template: str, partial: str) -> str:
    """The whole page, or only its named ``{% partialdef %}`` when htmx asks for it."""
    return f"{template}#{partial}" if partial_wanted(request) else template


def page_redirect(request: HtmxHttpRequest, url: str) -> HttpResponse:
    """Go to ``url`` as a whole page: a 302, or for htmx ``HX-Redirect`` (htmx would swap a
    followed 302's page into the element it targets)."""
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
