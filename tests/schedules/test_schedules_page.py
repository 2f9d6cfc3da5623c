"""The Schedules page per role: fleet managers set, change and remove schedules (audited);
viewers read them; others are refused. Bad input changes nothing and says why; configured
schedules are shown, never changed here."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from certadmin.audit.models import AuditAction, AuditEvent
from certadmin.devices.models import CertificateRecord
from certadmin.emulator.seed import DEMO_PRODUCT_KEY
from certadmin.schedules.cron import ConfiguredSchedule
from certadmin.schedules.models import ScheduleSource, SyncSchedule
from tests.support.pages import page_text

pytestmark = pytest.mark.django_db

LIST = reverse("schedules:list")
SET = reverse("schedules:set")


def _form(**fields) -> dict:
    values = {"product_key": DEMO_PRODUCT_KEY, "instance": "", "account": "default"}
    values.update({"cron": "0 3 * * mon-fri", "mode": "full"}, **fields)
    return values


def test_a_fleet_manager_sets_a_schedule_and_it_is_audited(fleet_manager_client, fleet_manager):
    response = fleet_manager_client.post(SET, _form(cron=" 0  3 * * mon-fri "))
    assert response.status_code == 302
    schedule = SyncSchedule.objects.get()
    assert (schedule.product_key, schedule.cron, schedule.mode) == (
        DEMO_PRODUCT_KEY,
        "0 3 * * mon-fri",
        "full",
    )
    assert schedule.source == ScheduleSource.DASHBOARD
    assert schedule.updated_by == fleet_manager
    assert schedule.next_run_at > timezone.now()
    event = AuditEvent.objects.get(action=AuditAction.SCHEDULE_SET)
    assert event.actor_username == fleet_manager.username
    assert (event.product_key, event.account, event.detail) == (
        DEMO_PRODUCT_KEY,
        "default",
        "0 3 * * mon-fri; full",
    )
    text = page_text(fleet_manager_client.get(LIST))
    assert "0 3 * * mon-fri" in text
    assert 'id="schedule-form"' in text


def test_a_fleet_manager_changes_and_removes_a_schedule(fleet_manager_client):
    fleet_manager_client.post(SET, _form())
    fleet_manager_client.post(SET, _form(cron="15 4 * * *"))
    schedule = SyncSchedule.objects.get()
    assert schedule.cron == "15 4 * * *"
    response = fleet_manager_client.post(reverse("schedules:delete", args=[schedule.pk]))
    assert response.status_code == 302
    assert not SyncSchedule.objects.exists()
    actions = list(AuditEvent.objects.order_by("pk").values_list("action", "detail"))
    assert actions == [
        (AuditAction.SCHEDULE_SET, "0 3 * * mon-fri; full"),
        (AuditAction.SCHEDULE_SET, "15 4 * * *; full"),
        (AuditAction.SCHEDULE_DELETE, "15 4 * * *; full"),
    ]


@pytest.mark.parametrize(
    ("cron", "words"),
    [
        ("0 3 * *", "A schedule is five fields"),
        ("0 3 * * 1-5", "Write days of the week as names"),
        ("0 25 * * *", "This is not a valid schedule"),
    ],
)
def test_a_bad_schedule_is_refused_with_its_reason_and_nothing_changes(
    fleet_manager_client, cron, words
):
    response = fleet_manager_client.post(SET, _form(cron=cron))
    assert response.status_code == 400
    assert words in page_text(response)
    assert not SyncSchedule.objects.exists()
    assert not AuditEvent.objects.exists()


def test_an_incremental_schedule_is_set_and_an_unknown_mode_refused(fleet_manager_client):
    assert fleet_manager_client.post(SET, _form(mode="weekly")).status_code == 400
    assert not SyncSchedule.objects.exists()
    assert fleet_manager_client.post(SET, _form(mode="incremental")).status_code == 302
    assert SyncSchedule.objects.get().mode == "incremental"
    assert "(incremental)" in page_text(fleet_manager_client.get(LIST))


def test_a_viewer_reads_the_schedules_but_cannot_change_them(viewer_client, fleet_manager_client):
    fleet_manager_client.post(SET, _form())
    schedule = SyncSchedule.objects.get()
    text = page_text(viewer_client.get(LIST))
    assert "0 3 * * mon-fri" in text
    assert 'id="schedule-form"' not in text
    assert reverse("schedules:delete", args=[schedule.pk]) not in text
    assert viewer_client.post(SET, _form(cron="0 4 * * *")).status_code == 403
    delete = viewer_client.post(reverse("schedules:delete", args=[schedule.pk]))
    assert delete.status_code == 403
    schedule.refresh_from_db()
    assert schedule.cron == "0 3 * * mon-fri"


def test_someone_who_may_not_see_certificates_is_refused_the_page(client_for, auditor):
    client = client_for(auditor)
    assert client.get(LIST).status_code == 403
    assert client.post(SET, _form()).status_code == 403


def test_a_configured_schedule_is_shown_as_such_and_cannot_be_changed_here(
    fleet_manager_client, settings
):
    settings.SYNC_SCHEDULES = [
        ConfiguredSchedule("default", DEMO_PRODUCT_KEY, "", "30 1 * * sun", "full")
    ]
    text = page_text(fleet_manager_client.get(LIST))
    assert "30 1 * * sun" in text
    assert "from configuration" in text
    # Once the scheduler has read it, it is a row the dashboard still cannot change.
    from certadmin.schedules.services import schedules_config_apply

    schedules_config_apply()
    schedule = SyncSchedule.objects.get()
    response = fleet_manager_client.post(SET, _form())
    assert response.status_code == 400
    assert "set in the configuration" in page_text(response)
    fleet_manager_client.post(reverse("schedules:delete", args=[schedule.pk]))
    schedule.refresh_from_db()
    assert schedule.cron == "30 1 * * sun"
    assert not AuditEvent.objects.exists()


def test_each_product_shows_how_fresh_its_records_are(viewer_client, settings):
    settings.SYNC_RECHECK_DAYS = 7
    now = timezone.now()
    for number, age in enumerate([1, 2, 10, 30]):
        CertificateRecord.objects.create(
            account="default",
            product_key="a1Fresh0001",
            device_name=f"dev-{number}",
            last_checked=now - timedelta(days=age),
        )
    text = page_text(viewer_client.get(LIST))
    assert "a1Fresh0001" in text
    # Two of four records are past the 7-day bound.
    assert "50 % (2/4)" in text


def test_each_product_shows_its_coverage_removed_devices_and_recheck_bound(viewer_client, settings):
    settings.SYNC_RECHECK_DAYS = 7
    settings.SYNC_RECHECK_DAYS_PER_PRODUCT = {("default", "a1Cover0002"): 3}
    now = timezone.now()
    for product_key in ("a1Cover0001", "a1Cover0002"):
        for number, checked in enumerate([now, now, now, None]):
            CertificateRecord.objects.create(
                account="default",
                product_key=product_key,
                device_name=f"dev-{number}",
                last_checked=checked,
            )
    CertificateRecord.objects.create(
        account="default",
        product_key="a1Cover0001",
        device_name="gone-0",
        last_checked=now,
        removed_at=now,
    )
    text = page_text(viewer_client.get(LIST))
    first = text[text.index("a1Cover0001") : text.index("a1Cover0002")]
    second = text[text.index("a1Cover0002") :]
    # Three of the four devices listed were looked up; the removed one is not counted.
    assert "75 % (3/4)" in first
    assert "1 removed" in first
    assert "7 days" in first
    assert "3 days" in second
    assert "removed" not in second


def test_a_products_own_recheck_bound_decides_which_of_its_records_are_stale(
    viewer_client, settings
):
    settings.SYNC_RECHECK_DAYS = 7
    settings.SYNC_RECHECK_DAYS_PER_PRODUCT = {("default", "a1Bound0002"): 3}
    now = timezone.now()
    for product_key in ("a1Bound0001", "a1Bound0002"):
        for number, age in enumerate([1, 5, 5, 9]):
            CertificateRecord.objects.create(
                account="default",
                product_key=product_key,
                device_name=f"dev-{number}",
                last_checked=now - timedelta(days=age),
            )
    text = page_text(viewer_client.get(LIST))
    first = text[text.index("a1Bound0001") : text.index("a1Bound0002")]
    second = text[text.index("a1Bound0002") :]
    assert "25 % (1/4)" in first  # past 7 days: the 9-day-old one
    assert "75 % (3/4)" in second  # past its own 3 days: 5, 5 and 9 days old


def test_products_of_an_account_the_person_may_not_use_are_not_listed(viewer_client, settings):
    from tests.support.iot_accounts import account_on

    account_on(settings, "staging", groups=("Staging team",))
    SyncSchedule.objects.create(account="staging", product_key="a1Stg0Demo1", cron="0 3 * * *")
    assert "a1Stg0Demo1" not in page_text(viewer_client.get(LIST))
