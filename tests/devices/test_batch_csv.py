"""Reading a batch lookup's CSV: encodings, header, blank lines, duplicates, bad rows, limits."""

import pytest

from certadmin.devices.batch_csv import (
    BATCH_MAX_BYTES,
    BATCH_MAX_ROWS,
    BATCH_ROW_MAX_CHARS,
    ROW_TEXT_SHOWN,
    BatchCsvError,
    batch_csv_parse,
    row_text_shown,
)
from certadmin.iot.identity import DeviceRef

PK = "a1Fleet5kXz"


def test_two_and_three_columns_without_header():
    parsed = batch_csv_parse(f"{PK},line1-unit-00001\n{PK},line1-unit-00002,iot-06z00ep2pjifrby\n")
    assert parsed.devices == [
        DeviceRef(PK, "line1-unit-00001"),
        DeviceRef(PK, "line1-unit-00002", "iot-06z00ep2pjifrby"),
    ]
    assert parsed.header is False
    assert parsed.problems == parsed.duplicates == []


@pytest.mark.parametrize(
    "header",
    ["ProductKey,DeviceName", "productkey,devicename,iotinstanceid", "product_key, device_name"],
)
def test_header_is_detected_and_skipped(header):
    parsed = batch_csv_parse(f"{header}\n{PK},line1-unit-00001\n")
    assert parsed.header is True
    assert parsed.devices == [DeviceRef(PK, "line1-unit-00001")]
    assert parsed.problems == []


def test_a_header_after_data_is_a_bad_row():
    parsed = batch_csv_parse(f"{PK},line1-unit-00001\nProductKey,DeviceName\n")
    assert [(p.line, p.reason) for p in parsed.problems] == [
        (2, "A header row belongs on the first line only.")
    ]


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_utf8_with_or_without_bom_and_every_line_end(bom, newline):
    data = bom + newline.join([b"ProductKey,DeviceName", f"{PK},dev-0001".encode(), b""])
    parsed = batch_csv_parse(data)
    assert parsed.header is True
    assert parsed.devices == [DeviceRef(PK, "dev-0001")]


def test_pasted_text_with_a_bom_is_read_too():
    assert batch_csv_parse(f"\ufeff{PK},dev-0001").devices == [DeviceRef(PK, "dev-0001")]


def test_latin1_file_is_refused_with_the_line_of_the_first_bad_byte():
    data = f"{PK},dev-0001\n{PK},dev-0002\n".encode() + b"a1Fleet5kXz,caf\xe9-01\n"
    with pytest.raises(BatchCsvError) as refused:
        batch_csv_parse(data)
    assert "not UTF-8" in refused.value.message
    assert "line 3" in refused.value.message


def test_utf16_file_is_refused_by_name():
    with pytest.raises(BatchCsvError) as refused:
        batch_csv_parse(f"{PK},dev-0001\n".encode("utf-16"))
    assert "UTF-16" in refused.value.message


def test_blank_lines_and_padded_rows_are_skipped_but_line_numbers_stay_true():
    text = f"\n\nProductKey,DeviceName\n\n  \n{PK},dev-0001\n,,\n{PK},bad name!\n\n"
    parsed = batch_csv_parse(text)
    assert parsed.header is True
    assert parsed.devices == [DeviceRef(PK, "dev-0001")]
    assert [problem.line for problem in parsed.problems] == [8]


def test_cells_are_trimmed_of_spaces():
    parsed = batch_csv_parse(f"  {PK} ,  dev-0001  , \n")
    assert parsed.devices == [DeviceRef(PK, "dev-0001")]


def test_control_characters_are_refused_not_trimmed():
    parsed = batch_csv_parse(f"{PK},dev-0001\t\n{PK},dev\x00-0002\n{PK}\x1b,dev-0003\n")
    assert parsed.devices == []
    assert [problem.line for problem in parsed.problems] == [1, 2, 3]
    assert all("control characters" in problem.reason for problem in parsed.problems)


def test_duplicates_are_looked_up_once_and_reported_with_both_lines():
    text = f"{PK},dev-0001\n{PK},dev-0002\n{PK},dev-0001\n {PK} , dev-0001 \n"
    parsed = batch_csv_parse(text)
    assert parsed.devices == [DeviceRef(PK, "dev-0001"), DeviceRef(PK, "dev-0002")]
    assert [(dup.line, dup.first_line) for dup in parsed.duplicates] == [(3, 1), (4, 1)]
    # Another instance is another device.
    parsed = batch_csv_parse(f"{PK},dev-0001\n{PK},dev-0001,iot-06z00ep2pjifrby\n")
    assert len(parsed.devices) == 2
    assert parsed.duplicates == []


def test_bad_rows_are_listed_with_line_numbers_and_reasons():
    text = "\n".join(
        [
            f"{PK},dev-0001",  # 1 fine
            f"{PK}",  # 2 one column
            f"{PK},dev-0002,iot-1,extra",  # 3 four columns
            "bad key!,dev-0003",  # 4 ProductKey
            f"{PK},x",  # 5 DeviceName too short
            f"{PK},dev-0004,iot instance",  # 6 IotInstanceId
            ",dev-0005",  # 7 empty ProductKey
            f'"{PK},dev-0006',  # 8 unbalanced quote
        ]
    )
    parsed = batch_csv_parse(text)
    assert parsed.devices == [DeviceRef(PK, "dev-0001")]
    reasons = {problem.line: problem.reason for problem in parsed.problems}
    assert sorted(reasons) == [2, 3, 4, 5, 6, 7, 8]
    assert "found 1 column" in reasons[2]
    assert "found 4 columns" in reasons[3]
    assert reasons[4].startswith("ProductKey: A ProductKey is 4–32 letters and digits")
    assert reasons[5].startswith("DeviceName: A DeviceName is 4–32 characters")
    assert reasons[6].startswith("IotInstanceId:")
    assert reasons[7] == "ProductKey is empty."


def test_every_reason_of_a_row_is_given():
    parsed = batch_csv_parse("bad key!,x\n")
    (problem,) = parsed.problems
    assert "ProductKey:" in problem.reason
    assert "DeviceName:" in problem.reason


def test_exactly_the_row_limit_is_accepted():
    text = "ProductKey,DeviceName\n" + "".join(
        f"{PK},dev-{number:05d}\n" for number in range(BATCH_MAX_ROWS)
    )
    parsed = batch_csv_parse(text.encode())
    assert len(parsed.devices) == BATCH_MAX_ROWS


def test_one_row_over_the_limit_is_refused_with_the_count():
    text = "".join(f"{PK},dev-{number:05d}\n" for number in range(BATCH_MAX_ROWS + 1))
    with pytest.raises(BatchCsvError) as refused:
        batch_csv_parse(text)
    assert "10,001 rows" in refused.value.message
    assert "10,000" in refused.value.message


def test_a_file_over_the_size_limit_is_refused_before_it_is_read():
    # Not UTF-8 either: the size is what is reported, so nothing was decoded.
    data = b"\xff" * (BATCH_MAX_BYTES + 1)
    with pytest.raises(BatchCsvError) as refused:
        batch_csv_parse(data)
    assert "at most 2 MB" in refused.value.message


@pytest.mark.parametrize("text", ["", "\n\n  \n", "ProductKey,DeviceName\n", b"\xef\xbb\xbf"])
def test_a_list_with_no_device_is_refused(text):
    with pytest.raises(BatchCsvError) as refused:
        batch_csv_parse(text)
    assert "no device" in refused.value.message


def test_each_problem_carries_its_rows_text_with_control_characters_made_visible():
    text = f"{PK},dev-0001\n{PK},dev-0002\t\n\u202e{PK},x\n{PK},dev-0001\n"
    parsed = batch_csv_parse(text)
    assert [(p.line, p.text) for p in parsed.problems] == [
        (2, f"{PK},dev-0002\u2409"),  # the tab as ␉
        (3, f"\ufffd{PK},x"),  # a right-to-left override cannot reorder the page
    ]
    # Rows that name a device keep their line and text too, repeats included.
    assert [(row.line, row.text) for row in parsed.rows] == [
        (1, f"{PK},dev-0001"),
        (4, f"{PK},dev-0001"),
    ]
    assert parsed.devices == [DeviceRef(PK, "dev-0001")]


def test_a_row_too_long_is_refused_whole_and_its_text_is_cut():
    row = f"{PK}," + "d" * (BATCH_ROW_MAX_CHARS + 10)
    parsed = batch_csv_parse(f"{PK},dev-0001\n{row}\n")
    (problem,) = parsed.problems
    assert problem.line == 2
    assert f"is {len(row)} characters long" in problem.reason
    assert problem.text == f"{row[:ROW_TEXT_SHOWN]}… ({len(row)} characters)"
    assert row_text_shown("x" * ROW_TEXT_SHOWN) == "x" * ROW_TEXT_SHOWN


def test_a_pasted_list_counts_lf_line_ends_against_the_size_limit():
    # A file at the limit, kept in the text box, comes back with CRLF line ends.
    line = f"{PK},dev-0001\n"
    text = line * (BATCH_MAX_BYTES // len(line))
    with pytest.raises(BatchCsvError) as refused:
        batch_csv_parse(text.replace("\n", "\r\n"))
    assert "rows" in refused.value.message  # refused for its row count, not its size
