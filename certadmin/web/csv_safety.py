"""CSV cells that a spreadsheet shows as text, never runs: one rule for every CSV export
(audit trail, inventory, batch results, the expiry report).

A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read as a formula
by Excel, LibreOffice and Google Sheets (CSV injection); such text is prefixed with ``'``, which
those programs show as a text marker. Numbers are written as they are: ``-3`` is a number, not a
formula, and scripts reading the file want it unchanged.
"""

import csv
import io
from collections.abc import Sequence
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


_SEPARATOR = "\x00"
_FORMULA_STARTS = tuple(_SEPARATOR + prefix for prefix in FORMULA_PREFIXES)
# What makes csv.writer (the excel dialect, minimal quoting) quote a cell.
_QUOTED_IF = (",", '"', "\r", "\n")


def csv_text(columns: Sequence[Sequence]) -> str:
    """The CSV text ``csv.writer`` writes for the rows ``zip(*columns)`` with ``csv_cell``
    applied to every cell, byte for byte, built a column at a time.

    An export of many rows spends most of its time here: per cell, ``csv_cell`` is a Python
    call and ``csv.writer`` a quoting check. A column of plain text (nearly every column) is
    checked for formulas and for characters that need quoting at C speed, then joined as it
    is; only a column holding other types, a formula or such characters is handled cell by
    cell."""
    if len(columns) < 2 or not columns[0]:
        # A row of one empty cell is written as "": leave such edge cases to csv.writer.
        text = io.StringIO()
        csv.writer(text).writerows(
            [csv_cell(value) for value in row] for row in zip(*columns, strict=True)
        )
        return text.getvalue()
    cells = [_column_cells(column) for column in columns]
    return "\r\n".join(map(",".join, zip(*cells, strict=True))) + "\r\n"


def _column_cells(column: Sequence) -> Sequence[str]:
    types = set(map(type, column))
    if types == {str}:
        # Every cell follows a separator here: a cell starting with a formula character shows
        # as separator + character (a cell holding the separator itself only costs the slow way).
        joined = _SEPARATOR + _SEPARATOR.join(column)
        if any(start in joined for start in _FORMULA_STARTS):
            column = [csv_cell(value) for value in column]
    elif types == {type(None)}:
        return [""] * len(column)
    else:
        column = [csv_cell(value) for value in column]
        joined = "".join(column)
    if any(character in joined for character in _QUOTED_IF):
        column = [_quoted(cell) if any(c in cell for c in _QUOTED_IF) else cell for cell in column]
    return column


def _quoted(cell: str) -> str:
    return '"' + cell.replace('"', '""') + '"'


class LineBuffer:
    """A file-like object whose ``write()`` returns the line, so that ``csv.writer`` output can
    be streamed one row at a time (``StreamingHttpResponse``)."""

    def write(self, value: str) -> str:
        return value
