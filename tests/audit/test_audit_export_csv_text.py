"""``csv_text`` (a batch written a column at a time) is byte for byte what ``csv.writer`` writes
after ``csv_cell`` on every cell, whatever the cells hold."""

import csv
import io
import random

import pytest

from certadmin.web.csv_safety import csv_cell, csv_text

# Separators, quotes, line breaks, the characters csv.writer might treat specially, formula
# starts, non-ASCII and astral characters.
ALPHABET = "ab ,\"\r\n\x00\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029=+-@\t'é中🔑\\;"


def _reference(rows: list[list]) -> str:
    text = io.StringIO()
    csv.writer(text).writerows([csv_cell(value) for value in row] for row in rows)
    return text.getvalue()


def _value(rng: random.Random):
    kind = rng.random()
    if kind < 0.1:
        return None
    if kind < 0.2:
        return rng.choice([0, -3, 10**20, True, False, 2.5, -0.0])
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(12)))


def test_generated_batches_are_written_as_csv_writer_writes_them():
    rng = random.Random(20261126)
    for _ in range(5000):
        width, height = rng.randrange(1, 5), rng.randrange(5)
        rows = [[_value(rng) for _ in range(width)] for _ in range(height)]
        columns = [list(column) for column in zip(*rows, strict=True)] or [[]] * width
        assert csv_text(columns) == _reference(rows), rows


@pytest.mark.parametrize(
    "column",
    [
        ["=1+1", "plain"],
        ["plain", "-dev", "@sum", "+1", "\tx", "\rx"],
        ["a\x00=b", "c"],  # the separator inside a cell: still right
        [None, None],
        [None, "10.0.0.1"],
        ["", ""],
        ['say "hi"', "a,b", "two\nlines"],
    ],
)
def test_each_kind_of_column_is_written_as_csv_writer_writes_it(column):
    rows = [[value, "x"] for value in column]
    assert csv_text([column, ["x"] * len(column)]) == _reference(rows)


def _homogeneous_column(rng: random.Random, height: int) -> list:
    """A column as an export has them: all text (some None), or all integers (some None)."""
    kind = rng.random()
    none_share = rng.choice([0, 0, 0.3])
    column = []
    for _ in range(height):
        if rng.random() < none_share:
            column.append(None)
        elif kind < 0.3:
            column.append(rng.choice([0, 7, -3, -(10**20), 10**30]))
        else:
            column.append("".join(rng.choice(ALPHABET) for _ in range(rng.randrange(12))))
    return column


def test_generated_columns_of_one_type_are_written_as_csv_writer_writes_them():
    """The fast paths: text columns (with or without None) and integer columns."""
    rng = random.Random(24)
    for _ in range(3000):
        width, height = rng.randrange(2, 5), rng.randrange(1, 30)
        columns = [_homogeneous_column(rng, height) for _ in range(width)]
        rows = [list(row) for row in zip(*columns, strict=True)]
        assert csv_text(columns) == _reference(rows), rows


# Every formula start, alone, after whitespace or a control character (which spreadsheets may
# strip, but csv_cell's rule is the first character: these stay as they are), doubled, quoted
# and inside text; in every position of a column.
FORMULA_CELLS = [
    *(f"{prefix}{tail}" for prefix in "=+-@\t\r" for tail in ("", "1+1", "cmd|' /C calc'!A0")),
    *(f"{lead}=1+1" for lead in (" ", "\n", "\x00", "\x0b", "\x0c", "\u00a0", "\ufeff", "'")),
    "==1",
    "=-1",
    "-=1",
    '"=1"',
    '=HYPERLINK("http://x","a,b")',
    "a=b",
    "key_reveal",
    "",
]


@pytest.mark.parametrize("none", [False, True], ids=["text", "text and None"])
def test_every_formula_start_is_marked_wherever_it_stands(none):
    rng = random.Random(7)
    for _ in range(200):
        column = rng.sample(FORMULA_CELLS, k=rng.randrange(1, len(FORMULA_CELLS)))
        if none:
            column.insert(rng.randrange(len(column) + 1), None)
        rows = [[value, "x"] for value in column]
        text = csv_text([column, ["x"] * len(column)])
        assert text == _reference(rows)
        for row in csv.reader(io.StringIO(text, newline="")):
            assert not row[0].startswith(("=", "+", "-", "@", "\t", "\r")), row


def test_integer_columns_are_numbers_never_marked_or_quoted():
    column = [-3, None, 0, 10**20, -(10**30)]
    assert csv_text([column, ["x"] * 5]) == "-3,x\r\n,x\r\n0,x\r\n" + (
        "100000000000000000000,x\r\n-1000000000000000000000000000000,x\r\n"
    )
