"""Refuse request bodies in a text encoding the dashboard does not speak.

Django refuses a form body (``application/x-www-form-urlencoded``) in any charset but the exact
name ``utf-8`` with ``BadRequest`` when ``request.POST`` is first read, but its 400 handler runs
the CSRF check, which reads ``request.POST`` again and turns the answer into a 500. An unknown
charset breaks ``request.GET`` too. So the charset is judged here, once, before anything reads
the request, in two places:

- ``CharsetCheckedWSGIRequest`` (the WSGI application's request class) never lets a charset it
  refuses become the request's encoding: Django's own request sets it at once and decodes the
  query string with it, which raises for a bytes-to-bytes codec (``rot13``, ``base64``, ``zip``)
  or a hostile RFC 2231 parameter (``charset*=rot13''x``) before any middleware runs, so the
  server answered 500 with a traceback;
- ``RequestEncodingMiddleware`` answers 400 to such a request.

What is accepted:

- no charset, or any name Python knows for UTF-8 or US-ASCII (``UTF-8``, ``utf8``, ``u8``,
  ``cp65001``, ``ascii``, ``646``, ``us-ascii``... in any case) is accepted, and the request is
  then read as ``utf-8`` (US-ASCII being a subset of it), the one name Django's parser accepts;
- anything else (another codec, a name Python does not know, an empty or malformed name) is
  answered 400 with one log line, before anything decodes the request.
"""

import codecs
import re
from collections.abc import Callable

from django.core.handlers.wsgi import WSGIHandler, WSGIRequest
from django.http import HttpRequest, HttpResponse
from django.urls import get_resolver
from django.utils.http import parse_header_parameters
from django.utils.log import log_response

_ACCEPTED_CODECS = frozenset({"utf-8", "ascii"})
# What a charset name can look like (RFC 2978: up to 40 characters of a small alphabet). Any
# other text is refused before codecs.lookup, which would try to import a module per name.
_CHARSET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$%&'+^_`{}~.:-]{0,63}")


def request_charset_acceptable(request: HttpRequest) -> bool:
    """True when the request declares no charset, or a name of UTF-8 or US-ASCII."""
    refused = getattr(request, "charset_refused", None)
    if refused is not None:
        return not refused
    charset = request.content_params.get("charset")
    if charset is None:
        return True
    return charset_is_utf8(charset)


def charset_is_utf8(charset: str) -> bool:
    """True when ``charset`` is a name Python knows for UTF-8 or US-ASCII (any case, spaces
    around it ignored); False for every other name, known or not."""
    name = charset.strip()
    if not _CHARSET_NAME.fullmatch(name):
        return False
    try:
        return codecs.lookup(name).name in _ACCEPTED_CODECS
    except (LookupError, ValueError, TypeError):
        return False


class CharsetCheckedWSGIRequest(WSGIRequest):
    """A WSGI request whose encoding is ``utf-8`` or nothing: a Content-Type that cannot be
    parsed, or names another charset, is noted in ``charset_refused`` for the middleware."""

    charset_refused = False

    def _set_content_type_params(self, meta) -> None:
        try:
            self.content_type, self.content_params = parse_header_parameters(
                meta.get("CONTENT_TYPE", "")
            )
        except (ValueError, LookupError, UnicodeError, TypeError):
            # Too long, or an RFC 2231 value in a charset that cannot decode it.
            self.content_type, self.content_params = "", {}
            self.charset_refused = True
            return
        charset = self.content_params.get("charset")
        if charset is None:
            return
        if charset_is_utf8(charset):
            self.encoding = "utf-8"
        else:
            self.charset_refused = True


class CharsetCheckedWSGIHandler(WSGIHandler):
    """Django's WSGI handler with ``CharsetCheckedWSGIRequest`` (certadmin.wsgi uses it)."""

    request_class = CharsetCheckedWSGIRequest


class RequestEncodingMiddleware:
    """Answer 400 to a request whose Content-Type names a charset other than UTF-8."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request_charset_acceptable(request):
            if "charset" in request.content_params:
                # An alias (utf8, ASCII...): Django's form parser accepts only "utf-8".
                request.encoding = "utf-8"
            return self.get_response(request)
        # Nothing may decode this request now, the 400 handler included.
        request.encoding = "utf-8"
        request._mark_post_parse_error()
        bad_request = get_resolver().resolve_error_handler(400)
        response = bad_request(request, exception=None)
        # One line, no traceback; Django does not log this response again.
        log_response(
            "Bad Request (the body's charset is not UTF-8): %s",
            request.path,
            response=response,
            request=request,
        )
        return response
