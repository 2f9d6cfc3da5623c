"""The auditor's list filters are planned as indexes allow (issue 24): on SQLite, no filter the
form offers sorts its matches in a temporary B-tree (at a million events that sort walked a
quarter of the trail), with the planner's statistics absent (a new database) and as a
realistic trail of a million events gives them; and a part of a name is looked up among the
names the trail holds, giving the same events as before."""

import pytest
from django.db import connection

from certadmin.audit.forms import ANY_KEY_ACCESS, EventFilterForm
from certadmin.audit.models import AuditAction, AuditEvent, AuditName
from certadmin.audit.planner import audit_names_refresh
from certadmin.audit.selectors import NAME_MATCHES_MAX, events_filtered, events_page
from tests.support.audit_events import make_event

pytestmark = pytest.mark.django_db

FLEET = "a1Fleet5kXz"
DEVICE = "line2-unit-02345"

# What the form offers, alone and combined, as people fill it in.
FILTERS = {
    "no filter": {},
    "deep page": {"before": "3"},
    "user": {"user": "wang.wei"},
    "user, exact": {"user": '"wang.wei"'},
    "user + action": {"user": "zhao.wei", "action": [AuditAction.KEY_REVEAL]},
    "user + any key access": {"user": "zhao.wei", "action": [ANY_KEY_ACCESS]},
    "device": {"device_name": DEVICE},
    "device, exact": {"device_name": f'"{DEVICE}"'},
    "device + action": {"device_name": DEVICE, "action": [AuditAction.KEY_REVEAL]},
    "device + any key access": {"device_name": DEVICE, "action": [ANY_KEY_ACCESS]},
    "product": {"product_key": FLEET},
    "product + device": {"product_key": FLEET, "device_name": DEVICE},
    "product + device + action": {
        "product_key": FLEET,
        "device_name": DEVICE,
        "action": [AuditAction.KEY_REVEAL],
    },
    "product + outcome": {"product_key": FLEET, "outcome": "denied"},
    "action": {"action": [AuditAction.CERT_EXPORT]},
    "action + outcome": {"action": [AuditAction.KEY_REVEAL], "outcome": "denied"},
    "outcome": {"outcome": "failed"},
    "date range": {"date_from": "2026-01-01", "date_to": "2026-12-31"},
    "device + date range": {"device_name": DEVICE, "date_from": "2026-01-01"},
}

# "wang.wei" is part of two names (wang.wei, wang.wei1): their events, at most
# NAME_EVENTS_SORTED_MAX, are fetched by the name index and sorted.
FEW_NAMES_SORTED = {"user"}

# sqlite_stat1 of bench/'s realistic trail of 1,000,000 events (common.audit_fill_rows,
# ANALYZE with planner.SQLITE_ANALYSIS_LIMIT after migration 0017): what the planner knows
# on a grown database.
REALISTIC_STATS = {
    "audit_action_id_idx": "1437520 1001 1",
    "audit_action_idx": "2158404 1001 1001 1",
    "audit_auditevent_actor_username_45331152": "1045716 1001",
    "audit_auditevent_created_at_58e81936": "1076920 1",
    "audit_device_action_idx": "2099440 1001 1001 1",
    "audit_device_idx": "4231425 1001 1001 1",
    "audit_device_name_idx": "4298240 1001 1",
    "audit_product_id_idx": "2562240 1001 1",
    "audit_product_outcome_idx": "3790728 1001 1001 1",
    "audit_user_action_idx": "907842 1001 1001 1",
    "sqlite_autoindex_audit_auditevent_1": "1001000 1",
    "sqlite_autoindex_audit_auditevent_2": "1123200 1",
}


@pytest.fixture
def trail():
    for name in (DEVICE, "line2-unit-02346", "thermo-001"):
        make_event(product_key=FLEET, device_name=name)
        make_event(product_key=FLEET, device_name=name, action=AuditAction.CERT_DOWNLOAD)
    for user in ("wang.wei", "wang.wei1", "zhao.wei"):
        from django.contrib.auth import get_user_model

        actor = get_user_model().objects.create_user(user)
        make_event(actor=actor, device_name="thermo-001")


def _plan(query: dict) -> str:
    form = EventFilterForm(query)
    assert form.is_valid(), form.errors
    events = events_filtered(viewer=None, **form.filters())
    before = form.cleaned_data["before"]
    if before:
        events = events.filter(id__lt=before)
    sql, params = events.order_by("-id")[:51].query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        return " | ".join(str(row[-1]) for row in cursor.fetchall())


def _stats_set(stats: dict[str, str]) -> None:
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE sqlite_schema")  # makes sqlite_stat1 exist
        cursor.execute("DELETE FROM sqlite_stat1")
        for index, stat in stats.items():
            cursor.execute(
                "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES (%s, %s, %s)",
                [AuditEvent._meta.db_table, index, stat],
            )
        cursor.execute("ANALYZE sqlite_schema")  # the planner reloads the statistics


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's query plans")
@pytest.mark.parametrize("statistics", ["none", "a million realistic events"])
@pytest.mark.parametrize("name", list(FILTERS))
def test_no_filter_sorts_its_matches(trail, name, statistics):
    if statistics != "none":
        _stats_set(REALISTIC_STATS)
    plan = _plan(FILTERS[name])
    if name in FEW_NAMES_SORTED:
        # A part matching a few names with few events: those names' index entries, sorted.
        assert "SCAN" not in plan, plan
        assert "_username=?)" in plan, plan
    else:
        assert "TEMP B-TREE" not in plan, plan
    # A name filter is answered from the name's index, not by walking a product or an action.
    if "device_name" in FILTERS[name]:
        assert "device_name=?" in plan, plan
    if "user" in FILTERS[name]:
        assert "actor_username=?" in plan, plan


def _matching(**filters) -> list[int]:
    return list(events_filtered(viewer=None, **filters).values_list("id", flat=True))


def _by_substring(field: str, text: str) -> list[int]:
    return list(
        AuditEvent.objects.filter(**{f"{field}__icontains": text})
        .order_by("-id")
        .values_list("id", flat=True)
    )


@pytest.mark.parametrize(
    "text", ["LINE2-UNIT-0234", "unit-02345", "thermo", "-", "nothing-like-it", "2", "E"]
)
def test_a_part_of_a_device_name_finds_what_the_substring_finds(text):
    """One name, a few, more than NAME_MATCHES_MAX and none: the same events, any case."""
    for n in range(NAME_MATCHES_MAX + 5):
        make_event(product_key=FLEET, device_name=f"line2-unit-0234{n}")
    make_event(device_name="Thermo-001")
    make_event(device_name="thermo-002", action=AuditAction.CERT_DOWNLOAD)
    expected = _by_substring("device_name", text)
    assert _matching(device_name=text) == expected
    pages, before = [], None
    while True:  # keyset pages walk the same events
        rows, before = events_page(
            events_filtered(viewer=None, device_name=text), before_id=before, page_size=7
        )
        pages += [row.id for row in rows]
        if before is None:
            break
    assert pages == expected


def test_names_whose_events_are_too_many_to_sort_are_found_by_the_substring(monkeypatch):
    from certadmin.audit import selectors

    for _ in range(3):
        make_event(device_name="gw-a")
        make_event(device_name="gw-b")
    monkeypatch.setattr(selectors, "NAME_EVENTS_SORTED_MAX", 5)
    assert "LIKE" in str(events_filtered(viewer=None, device_name="gw-").query)
    assert _matching(device_name="gw-") == _by_substring("device_name", "gw-")
    monkeypatch.setattr(selectors, "NAME_EVENTS_SORTED_MAX", 6)
    assert "LIKE" not in str(events_filtered(viewer=None, device_name="gw-").query)
    assert _matching(device_name="gw-") == _by_substring("device_name", "gw-")


def test_audit_record_counts_each_name_and_a_refresh_counts_the_same(trail):
    counted = set(AuditName.objects.values_list("field", "name", "events"))
    assert ("device_name", DEVICE, 2) in counted
    assert ("device_name", "thermo-001", 5) in counted
    assert ("actor_username", "zhao.wei", 1) in counted
    assert not any(name == "" for _, name, _ in counted)
    AuditName.objects.all().delete()
    audit_names_refresh(connection=connection)
    assert set(AuditName.objects.values_list("field", "name", "events")) == counted


def test_a_user_part_finds_what_the_substring_finds(trail):
    for text in ("WANG", "wang.wei", "zhao", "wei", "nobody"):
        assert _matching(user=text) == _by_substring("actor_username", text)


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's statistics table")
def test_migrating_leaves_statistics_for_the_planner(trail):
    from django.core.management import call_command

    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS sqlite_stat1")
    call_command("migrate", "audit", verbosity=0)  # nothing to apply: post_migrate still runs
    with connection.cursor() as cursor:
        cursor.execute("SELECT idx FROM sqlite_stat1 WHERE tbl = 'audit_auditevent'")
        analysed = {row[0] for row in cursor.fetchall()}
    assert {"audit_device_action_idx", "audit_device_name_idx"} <= analysed
