"""CSV cells that a spreadsheet shows as text, never runs: one rule for every CSV export
(audit trail, inventory, batch results, the expiry report).

A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read as a formula
by Excel, LibreOffice and Google Sheets (CSV injection); such text is prefixed with ``'``, which
those programs show as a text marker. Numbers are written as they are: ``-3`` is a number, not a
formula, and scripts reading the file want it unchanged.
"""

from datetime import date, datetime

# Spreadsheets run cells that start with these as formulas.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """``value`` as the text of one CSV cell: "" for None, ISO 8601 for dates and times,
    formulas neutralised."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        return str(value)
    text = value.isoformat() if isinstance(value, datetime | date) else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


class LineBuffer:
    """A file-like object whose ``write()`` returns the line, so that ``csv.writer`` output can
    be streamed one row at a time (``StreamingHttpResponse``)."""

    def write(self, value: str) -> str:
        return value
