"""The verifier's fast canonical serialization is byte for byte the reference one (json.dumps),
so every hash ever written still verifies."""

import random
import sys
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from certadmin.audit.hash_chain import (
    CHAIN_FIELDS,
    canonical_bytes,
    canonical_bytes_reference,
    canonical_event_bytes,
)
from tests.support.audit_events import make_event

# Characters JSON escapes or that are easy to get wrong: quotes, backslash, controls, DEL,
# non-ASCII letters, CJK, combining marks, astral-plane emoji, U+2028/2029, BOM, NUL.
ALPHABET = (
    "abcXYZ019 -_./:@\"\\'\x00\x01\x07\x08\t\n\x0b\x0c\r\x1b\x1f\x7f\x80\x9f"
    "éüßçΩЖ中文字工单密钥、：\u0301\u200b\u2028\u2029\ufeff\uffff🔑😀"
)
ZONES = [UTC, ZoneInfo("Asia/Shanghai"), ZoneInfo("America/St_Johns"), timezone(timedelta(0))]


def _text(rng: random.Random, longest: int) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(longest + 1)))


def _row(rng: random.Random) -> list:
    values = []
    for name in CHAIN_FIELDS:
        if name == "created_at":
            moment = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(
                seconds=rng.randrange(10**9), microseconds=rng.choice([0, 1, rng.randrange(10**6)])
            )
            values.append(moment.astimezone(rng.choice(ZONES)))
        elif name == "actor_id":
            values.append(rng.choice([None, 0, 1, -5, rng.randrange(2**63), sys.maxsize]))
        elif name == "ip_address":
            values.append(rng.choice([None, "192.0.2.10", "2001:db8::1", ""]))
        elif name == "key_id":
            values.append(rng.choice(["", "", "k2026", "demo", "ключ"]))
        elif name == "account":
            values.append(rng.choice(["", "", "prod", "staging-2", "生产"]))
        elif name.endswith("_digest"):
            values.append(rng.choice(["", "", "ab" * 32, "0f" * 32]))
        else:
            values.append(_text(rng, rng.choice([0, 3, 40, 300])))
    return values


@pytest.mark.slow
def test_the_fast_serialization_equals_json_dumps_over_many_generated_rows():
    rng = random.Random(20261126)
    characters, zones, actors = set(), set(), set()
    # 2,000 rows: every character of ALPHABET, every zone and every odd actor id land in many
    # rows (asserted below), so more rows would repeat the same edges (20,000 cost ~10x the time).
    for _ in range(2_000):
        values = _row(rng)
        assert canonical_bytes(values) == canonical_bytes_reference(values), values
        characters.update(*(value for value in values if isinstance(value, str)))
        zones.add(values[CHAIN_FIELDS.index("created_at")].tzinfo)
        actors.add(values[CHAIN_FIELDS.index("actor_id")])
    assert characters >= set(ALPHABET)
    assert zones == set(ZONES)
    assert {None, 0, 1, -5, sys.maxsize} <= actors


@pytest.mark.parametrize(
    ("name", "odd"),
    [
        ("actor_id", True),  # a bool is an int to Python but "true" to JSON
        ("actor_id", 3.5),
        ("reason", 12),
        ("detail", None),
        ("key_id", None),  # left out, like ""
        ("account", None),
        ("reason_digest", None),  # left out, like "": the text is a member
    ],
)
def test_values_of_unexpected_types_are_serialized_as_the_reference_does(name, odd):
    values = _row(random.Random(1))
    values[CHAIN_FIELDS.index(name)] = odd
    assert canonical_bytes(values) == canonical_bytes_reference(values)


def test_a_str_subclass_is_serialized_as_the_reference_does():
    class Marked(str):
        pass

    values = _row(random.Random(2))
    values[CHAIN_FIELDS.index("reason")] = Marked('he said "hi"\n')
    assert canonical_bytes(values) == canonical_bytes_reference(values)


def test_a_row_with_a_missing_or_extra_value_is_refused():
    values = _row(random.Random(3))
    with pytest.raises(ValueError, match="expected 22 values"):
        canonical_bytes(values[:-1])
    with pytest.raises(ValueError, match="expected 22 values"):
        canonical_bytes([*values, "extra"])


@pytest.mark.django_db
def test_rows_written_by_the_service_serialize_identically_both_ways():
    event = make_event(reason='工单 OPS-9：更换 "网关" \\ 证书\n', detail="ü\u2028🔑")
    values = [getattr(event, name) for name in CHAIN_FIELDS]
    assert canonical_event_bytes(event) == canonical_bytes_reference(values)
