"""Refuse request bodies in a text encoding the dashboard does not speak.

Django refuses a form body (``application/x-www-form-urlencoded``) in any charset but UTF-8 with
``BadRequest`` when ``request.POST`` is first read, but its 400 handler runs the CSRF check,
which reads ``request.POST`` again and turns the answer into a 500. An unknown charset breaks
``request.GET`` too. So the charset is judged here, once, before anything reads the request.
"""

import codecs
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.urls import get_resolver

_ACCEPTED_CODECS = frozenset({"utf-8", "ascii"})


def request_charset_acceptable(request: HttpRequest) -> bool:
    """True when the request declares no charset, or UTF-8 (US-ASCII being a subset of it)."""
    charset = request.content_params.get("charset")
    if charset is None:
        return True
    try:
        return codecs.lookup(charset.strip()).name in _ACCEPTED_CODECS
    except LookupError:
        return False


class RequestEncodingMiddleware:
    """Answer 400 to a request whose Content-Type names a charset other than UTF-8."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request_charset_acceptable(request):
            return self.get_response(request)
        # Nothing may decode this request now, the 400 handler included.
        request.encoding = "utf-8"
        request._mark_post_parse_error()
        bad_request = get_resolver().resolve_error_handler(400)
        return bad_request(request, exception=None)
