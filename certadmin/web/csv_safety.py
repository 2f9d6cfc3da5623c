"""CSV cells that a spreadsheet shows as text, never runs: one rule for every CSV export
(audit trail, inventory, batch results, the expiry report).

A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read as a formula
by Excel, LibreOffice and Google Sheets (CSV injection); such text is prefixed with ``'``, which
those programs show as a text marker. Numbers are written as they are: ``-3`` is a number, not a
formula, and scripts reading the file want it unchanged.
"""

import csv
import io
import re
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
# A cell starting with a formula character, in a column joined with a separator before every
# cell: one regular-expression pass (six substring searches for a two-character needle cost
# ten times as much, issue 24). The lookahead form inserts the text marker where it matches.
_FORMULA_START = re.compile(_SEPARATOR + "(?=[" + re.escape("".join(FORMULA_PREFIXES)) + "])")
# What makes csv.writer (the excel dialect, minimal quoting) quote a cell.
_QUOTED_IF = (",", '"', "\r", "\n")
_NONE = type(None)


def csv_text(columns: Sequence[Sequence]) -> str:
    """The CSV text ``csv.writer`` writes for the rows ``zip(*columns)`` with ``csv_cell``
    applied to every cell, byte for byte, built a column at a time.

    An export of many rows spends most of its time here: per cell, ``csv_cell`` is a Python
    call and ``csv.writer`` a quoting check. A column of text (nearly every column) is checked
    for formulas and for characters that need quoting at C speed over the whole column, and
    only the cells that need it are changed; a column of integers is written with ``str``;
    only a column holding other types is handled cell by cell."""
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
    if types == {_NONE}:
        return [""] * len(column)
    if types <= {str, _NONE}:
        if _NONE in types:
            column = ["" if value is None else value for value in column]
        joined = _SEPARATOR + _SEPARATOR.join(column)
        if _FORMULA_START.search(joined):
            if joined.count(_SEPARATOR) == len(column):  # no cell holds the separator itself
                column = _FORMULA_START.sub(_SEPARATOR + "'", joined)[1:].split(_SEPARATOR)
            else:
                column = [csv_cell(value) for value in column]
    elif types <= {int, _NONE}:  # not bool: its type is not int
        column = ["" if value is None else str(value) for value in column]
        return column  # digits and a minus sign: never quoted
    else:
        column = [csv_cell(value) for value in column]
        joined = "".join(column)
    if any(character in joined for character in _QUOTED_IF):
        # Four substring tests inline: three times faster than a regular expression per cell.
        column = [
            _quoted(cell) if ("," in cell or '"' in cell or "\r" in cell or "\n" in cell) else cell
            for cell in column
        ]
    return column


def _quoted(cell: str) -> str:
    return '"' + cell.replace('"', '""') + '"'


class LineBuffer:
    """A file-like object whose ``write()`` returns the line, so that ``csv.writer`` output can
    be streamed one row at a time (``StreamingHttpResponse``)."""

    def write(self, value: str) -> str:
        return value
