"""Reading a batch lookup's device list: ``ProductKey,DeviceName[,IotInstanceId]`` as CSV.

A pure function of the text (or the uploaded bytes): no request, no database. Problems that
concern the whole file (too big, not UTF-8, too many rows, no devices) raise
``BatchCsvError``; problems of single rows are listed with their line numbers, so the person
can fix them all before anything starts. Each row is checked with the same validators as the
lookup form (``devices.forms``), so a row refused here would have been refused there too.

- A header row (``ProductKey,DeviceName[,IotInstanceId]``, any case, ``_`` or spaces allowed)
  is recognised on the first non-blank line and skipped.
- UTF-8 with or without a byte-order mark; CRLF, LF and CR line ends; blank lines skipped.
- Cells are trimmed of spaces; control characters (tabs included) are refused, not trimmed.
- A device listed twice is looked up once; the repeats are reported with their line numbers.
- A row longer than ``BATCH_ROW_MAX_CHARS`` is refused as it is, its cells unread.
- Each problem carries the row's text as the person wrote it, made showable
  (``row_text_shown``): control characters as visible symbols, at most ``ROW_TEXT_SHOWN``
  characters.
"""

import csv
import unicodedata
from dataclasses import dataclass, field

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from certadmin.devices.forms import clean_device_name, clean_instance_id, clean_product_key
from certadmin.iot.identity import DeviceRef
from certadmin.web.punctuation import label_join

BATCH_MAX_ROWS = 10_000
# Checked before anything is decoded: 10,000 rows of the longest valid cells fit well within.
BATCH_MAX_BYTES = 2 * 1024 * 1024
# The longest valid row is 32 + 32 + 64 characters and two commas, quoted and padded: a row
# longer than this is not a device reference, whatever its cells say.
BATCH_ROW_MAX_CHARS = 256
# Of a bad row's text, this much is shown beside its reason (the whole row is in the box).
ROW_TEXT_SHOWN = 120
_HEADER_NAMES = (("productkey",), ("devicename",), ("iotinstanceid", "instanceid", "instance"))
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


class BatchCsvError(Exception):
    """The file as a whole is refused; ``message`` says why, for the person who sent it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class RowProblem:
    """A row that cannot be looked up: its line number (from 1), why, and its text as shown
    (``row_text_shown``)."""

    line: int
    reason: str
    text: str = ""


@dataclass(frozen=True)
class BatchRow:
    """A row that names a device: its line number, its text as shown, the device."""

    line: int
    text: str
    device: DeviceRef


@dataclass(frozen=True)
class RowDuplicate:
    """A row naming a device an earlier row already names (looked up once)."""

    line: int
    first_line: int
    device: DeviceRef


@dataclass(frozen=True)
class BatchDevices:
    """What a CSV names: every row that names a device (repeats included), the rows that
    cannot be looked up, the repeats, and whether it had a header."""

    rows: list[BatchRow] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    duplicates: list[RowDuplicate] = field(default_factory=list)
    header: bool = False

    @property
    def devices(self) -> list[DeviceRef]:
        """The devices named, each once, in the order of their first row."""
        return list(dict.fromkeys(row.device for row in self.rows))


def _visible(ch: str) -> str:
    # A control character shows as its Unicode "control picture" (a tab as ␉, NUL as ␀), so
    # the person sees where the refused character is; other invisible or reordering
    # characters (format characters such as a right-to-left override) as �.
    code = ord(ch)
    if code < 0x20:
        return chr(0x2400 + code)
    if code == 0x7F:
        return "\u2421"
    return "\ufffd" if unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp"} else ch


def row_text_shown(line: str) -> str:
    """A row's text as a page shows it beside its problem: every character visible (control
    characters as their symbols), at most ``ROW_TEXT_SHOWN`` characters, a longer row cut with
    "…" and its length. Escaping is the page's (autoescape) and the CSV's (``csv_cell``) job."""
    shown = "".join(_visible(ch) for ch in line[:ROW_TEXT_SHOWN])
    if len(line) <= ROW_TEXT_SHOWN:
        return shown
    return _("%(start)s… (%(count)s characters)") % {"start": shown, "count": f"{len(line):,}"}


def batch_csv_decode(data: bytes) -> str:
    """An uploaded file's text (UTF-8, its byte-order mark dropped); raises ``BatchCsvError``
    for UTF-16 or other bytes that are not UTF-8."""
    if data.startswith(_UTF16_BOMS):
        raise BatchCsvError(
            _("The file is UTF-16 text. Save it as UTF-8 (“CSV UTF-8” in Excel) and send it again.")
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise BatchCsvError(
            _(
                "The file is not UTF-8 text (the first byte that is not is on line %(line)d). "
                "Save it as UTF-8 (“CSV UTF-8” in Excel) and send it again."
            )
            % {"line": line}
        ) from None


def _lines(text: str) -> list[str]:
    # Only CR and LF end a line: splitlines() would also split on control characters that
    # must be refused, and shift the line numbers the person sees.
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _cells(line: str) -> list[str]:
    try:
        row = next(csv.reader([line], strict=True), [])
    except csv.Error:
        # An unbalanced quote, say: keep the line as one cell, refused by the validators.
        row = [line]
    cells = [cell.strip(" ") for cell in row]
    # Spreadsheets pad rows with empty cells: drop trailing empty ones.
    while cells and not cells[-1]:
        cells.pop()
    return cells


def _is_header(cells: list[str]) -> bool:
    if not 2 <= len(cells) <= 3:
        return False
    names = [cell.lower().replace("_", "").replace(" ", "") for cell in cells]
    return all(name in _HEADER_NAMES[index] for index, name in enumerate(names))


def _device(cells: list[str]) -> DeviceRef:
    """The device a row names; raises ValidationError with every reason."""
    if len(cells) not in (2, 3):
        raise forms.ValidationError(
            ngettext(
                "Expected ProductKey,DeviceName[,IotInstanceId]: found %(count)d column.",
                "Expected ProductKey,DeviceName[,IotInstanceId]: found %(count)d columns.",
                len(cells),
            )
            % {"count": len(cells)}
        )
    reasons: list[str] = []
    values: list[str] = []
    labels = (_("ProductKey"), _("DeviceName"), _("IotInstanceId"))
    cleaners = (clean_product_key, clean_device_name, clean_instance_id)
    for label, clean, value in zip(labels, cleaners, [*cells, ""][:3], strict=True):
        if not value and clean is not clean_instance_id:
            reasons.append(_("%(field)s is empty.") % {"field": label})
            continue
        try:
            values.append(clean(value))
        except forms.ValidationError as error:
            reasons.extend(label_join(label=label, text=message) for message in error.messages)
    if reasons:
        raise forms.ValidationError(reasons)
    return DeviceRef(*values)


def batch_csv_parse(data: bytes | str) -> BatchDevices:
    """The devices named by a CSV (uploaded bytes, or pasted text).

    Raises ``BatchCsvError`` for a file over ``BATCH_MAX_BYTES``, not UTF-8, with more than
    ``BATCH_MAX_ROWS`` rows, or naming no device. Row problems and duplicates are returned.
    """
    # Pasted text counts LF line ends: a browser sends a text box's lines with CRLF, and a file
    # kept in the box after a refusal must not grow past the limit on its way back.
    size = len(data.replace("\r\n", "\n").encode("utf-8")) if isinstance(data, str) else len(data)
    if size > BATCH_MAX_BYTES:
        raise BatchCsvError(
            _("The list is %(size)s MB; at most %(limit)s MB can be sent at once.")
            % {
                "size": f"{size / 1024 / 1024:.1f}",
                "limit": f"{BATCH_MAX_BYTES / 1024 / 1024:.0f}",
            }
        )
    text = batch_csv_decode(data) if isinstance(data, bytes) else data.removeprefix("\ufeff")

    rows: list[tuple[int, str, list[str]]] = []
    header = False
    for number, line in enumerate(_lines(text), start=1):
        if len(line) > BATCH_ROW_MAX_CHARS:
            # Not split into cells: its text is shown cut, with one reason.
            rows.append((number, line, []))
            continue
        cells = _cells(line)
        if not cells:
            continue
        if not rows and not header and _is_header(cells):
            header = True
            continue
        rows.append((number, line, cells))
    if len(rows) > BATCH_MAX_ROWS:
        raise BatchCsvError(
            _("The list has %(count)s rows; at most %(limit)s can be looked up at once. Split it.")
            % {"count": f"{len(rows):,}", "limit": f"{BATCH_MAX_ROWS:,}"}
        )
    if not rows:
        raise BatchCsvError(
            _("The list names no device. Give one ProductKey,DeviceName[,IotInstanceId] a line.")
        )

    first_line: dict[DeviceRef, int] = {}
    named: list[BatchRow] = []
    problems: list[RowProblem] = []
    duplicates: list[RowDuplicate] = []
    for number, line, cells in rows:
        shown = row_text_shown(line)
        if not cells:
            reason = _(
                "The row is %(count)s characters long; a device reference is at most %(limit)s."
            ) % {"count": f"{len(line):,}", "limit": BATCH_ROW_MAX_CHARS}
            problems.append(RowProblem(number, reason, shown))
            continue
        if _is_header(cells):
            # Two files pasted one after the other: not a product called "ProductKey".
            reason = _("A header row belongs on the first line only.")
            problems.append(RowProblem(number, reason, shown))
            continue
        try:
            device = _device(cells)
        except forms.ValidationError as error:
            problems.append(RowProblem(number, " ".join(error.messages), shown))
            continue
        named.append(BatchRow(number, shown, device))
        if device in first_line:
            duplicates.append(RowDuplicate(number, first_line[device], device))
        else:
            first_line[device] = number
    return BatchDevices(rows=named, problems=problems, duplicates=duplicates, header=header)
