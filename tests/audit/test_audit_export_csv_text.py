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
