"""Logs without query strings.

A password, passphrase, reason or token typed into a URL (``/login/?password=...``,
``/metrics?token=...``, a mistyped form with ``method="get"``) would otherwise be written to a
log: in an access log's request line, in the next request's ``Referer`` and a redirect's
``Location``, and in Django's own warnings (``django.request``, ``django.security``), which pass
the request itself as the record's ``request`` attribute, written by the JSON formatter as
``<WSGIRequest: GET '/metrics?token=...'>``. No query string is needed to read logs, so
``QueryStringRedactingFilter`` takes every ``?query`` out of every part of a record a formatter
writes: the message and its arguments, every extra attribute, the exception's text and the
stack. It sits on every handler of the settings' LOGGING and of gunicorn.conf.py, and on
gunicorn's own access and error loggers. Pure: no Django imports, since gunicorn's master
process loads it before Django.
"""

import logging
import re
import traceback

from gunicorn.glogging import Logger as GunicornLogger

QUERY_OMITTED = "?[query omitted]"
# From "?" to the end of the URL: whitespace or a quote ends a URL in a log line. A "?" already
# followed by the marker is left (the filter may run twice on one record), as is a "?" that
# ends a sentence. A percent-encoded "?" counts too: Django decodes the path for its messages
# ("Not Found: /x?token=…") and encodes it again for the request's str() ("/x%3Ftoken%3D…").
_QUERY_STRING = re.compile(r"(?:\?|%3[Ff])(?!\[query omitted\])[^\s\"']+")
# gunicorn atoms that hold a bare query string, without its "?".
_BARE_QUERY_ATOMS = ("q", "{query_string}e")
# What every LogRecord has; anything else on a record came through ``extra``.
_RECORD_ATTRIBUTES = frozenset(
    logging.LogRecord("", logging.INFO, "", 0, "", (), None).__dict__
) | {"message", "asctime"}
_PLAIN_VALUES = (bool, int, float, type(None))


def text_without_query_strings(text: str) -> str:
    """``text`` with every ``?query`` of a URL in it replaced by a marker."""
    return _QUERY_STRING.sub(QUERY_OMITTED, text)


def _value_without_query_strings(value: object, depth: int = 0) -> object:
    if isinstance(value, str):
        return text_without_query_strings(value)
    if isinstance(value, _PLAIN_VALUES):
        return value
    if depth < 4 and isinstance(value, dict):
        return {key: _value_without_query_strings(item, depth + 1) for key, item in value.items()}
    if depth < 4 and isinstance(value, list | tuple):
        return type(value)(_value_without_query_strings(item, depth + 1) for item in value)
    # Any other object is written as its str() (a request's names its full path).
    try:
        text = str(value)
    except Exception:  # a broken __str__ must not cost the log line
        return f"<{type(value).__name__}>"
    redacted = text_without_query_strings(text)
    return redacted if redacted != text else value


class QueryStringRedactingFilter(logging.Filter):
    """A logging filter that takes query strings out of everything a record carries: the
    message, extra attributes (Django's ``request``), the exception text and the stack."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, dict) and not record.args:
            record.msg = _value_without_query_strings(record.msg)
        else:
            try:
                message = record.getMessage()
            except Exception:  # the handler reports a bad format, with the arguments
                message = None
                record.args = _value_without_query_strings(record.args)
            if message is not None:
                redacted = text_without_query_strings(message)
                if redacted != message:
                    record.msg, record.args = redacted, ()
        if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            redacted = text_without_query_strings(record.exc_text)
            if redacted != record.exc_text:
                # Formatters write exc_text when there is no exc_info to format again.
                record.exc_text, record.exc_info = redacted, None
        if record.stack_info:
            record.stack_info = text_without_query_strings(record.stack_info)
        for name, value in list(record.__dict__.items()):
            if name not in _RECORD_ATTRIBUTES:
                record.__dict__[name] = _value_without_query_strings(value)
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
