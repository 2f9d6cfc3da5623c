"""Access logs without query strings.

A password, passphrase or reason typed into a URL (``/login/?password=...``, a mistyped form
with ``method="get"``) would otherwise be written to the server's access log in the request
line, and again in the next request's ``Referer`` and a redirect's ``Location``. No query string
is needed to read traffic, so every query string is dropped from every access-log line, of
runserver (the ``django.server`` logger) and of gunicorn alike. Pure: no Django imports, since
gunicorn's master process loads it before Django.
"""

import logging
import re

from gunicorn.glogging import Logger as GunicornLogger

QUERY_OMITTED = "?[query omitted]"
# From "?" to the end of the URL: whitespace or a quote ends a URL in a log line.
_QUERY_STRING = re.compile(r"\?[^\s\"']*")
# gunicorn atoms that hold a bare query string, without its "?".
_BARE_QUERY_ATOMS = ("q", "{query_string}e")


def text_without_query_strings(text: str) -> str:
    """``text`` with every ``?query`` of a URL in it replaced by a marker."""
    return _QUERY_STRING.sub(QUERY_OMITTED, text)


class QueryStringRedactingFilter(logging.Filter):
    """A logging filter that removes query strings from the record's final message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = text_without_query_strings(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


class RedactingGunicornLogger(GunicornLogger):
    """gunicorn's logger with query strings kept out of the access and error logs, whatever
    ``access_log_format`` an operator chooses."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        for log in (self.access_log, self.error_log):
            if not any(isinstance(f, QueryStringRedactingFilter) for f in log.filters):
                log.addFilter(QueryStringRedactingFilter())

    def atoms(self, resp, req, environ, request_time) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        for name in _BARE_QUERY_ATOMS:
            if atoms.get(name):
                atoms[name] = QUERY_OMITTED
        return atoms
