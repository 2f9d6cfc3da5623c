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
"""

import csv
from dataclasses import dataclass, field

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from certadmin.devices.forms import clean_device_name, clean_instance_id, clean_product_key
from certadmin.iot.identity import DeviceRef

BATCH_MAX_ROWS = 10_000
# Checked before anything is decoded: 10,000 rows of the longest valid cells fit well within.
BATCH_MAX_BYTES = 2 * 1024 * 1024
_HEADER_NAMES = (("productkey",), ("devicename",), ("iotinstanceid", "instanceid", "instance"))
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


class BatchCsvError(Exception):
    """The file as a whole is refused; ``message`` says why, for the person who sent it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class RowProblem:
    """A row that cannot be looked up: its line number (from 1) and why."""

    line: int
    reason: str


@dataclass(frozen=True)
class RowDuplicate:
    """A row naming a device an earlier row already names (looked up once)."""

    line: int
    first_line: int
    device: DeviceRef


@dataclass(frozen=True)
class BatchDevices:
    """The devices a CSV names, each once, in the order of their first row."""

    devices: list[DeviceRef] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    duplicates: list[RowDuplicate] = field(default_factory=list)
    header: bool = False


def _decoded(data: bytes) -> str:
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
            reasons.extend(f"{label}: {message}" for message in error.messages)
    if reasons:
        raise forms.ValidationError(reasons)
    return DeviceRef(*values)


def batch_csv_parse(data: bytes | str) -> BatchDevices:
    """The devices named by a CSV (uploaded bytes, or pasted text).

    Raises ``BatchCsvError`` for a file over ``BATCH_MAX_BYTES``, not UTF-8, with more than
    ``BATCH_MAX_ROWS`` rows, or naming no device. Row problems and duplicates are returned.
    """
    size = len(data.encode("utf-8")) if isinstance(data, str) else len(data)
    if size > BATCH_MAX_BYTES:
        raise BatchCsvError(
            _("The list is %(size)s MB; at most %(limit)s MB can be sent at once.")
            % {
                "size": f"{size / 1024 / 1024:.1f}",
                "limit": f"{BATCH_MAX_BYTES / 1024 / 1024:.0f}",
            }
        )
    text = _decoded(data) if isinstance(data, bytes) else data.removeprefix("\ufeff")

    rows: list[tuple[int, list[str]]] = []
    header = False
    for number, line in enumerate(_lines(text), start=1):
        cells = _cells(line)
        if not cells:
            continue
        if not rows and not header and _is_header(cells):
            header = True
            continue
        rows.append((number, cells))
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
    problems: list[RowProblem] = []
    duplicates: list[RowDuplicate] = []
    for number, cells in rows:
        if _is_header(cells):
            # Two files pasted one after the other: not a product called "ProductKey".
            problems.append(RowProblem(number, _("A header row belongs on the first line only.")))
            continue
        try:
            device = _device(cells)
        except forms.ValidationError as error:
            problems.append(RowProblem(number, " ".join(error.messages)))
            continue
        if device in first_line:
            duplicates.append(RowDuplicate(number, first_line[device], device))
        else:
            first_line[device] = number
    return BatchDevices(
        devices=list(first_line), problems=problems, duplicates=duplicates, header=header
    )
