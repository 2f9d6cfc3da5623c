"""Suppressions: only fleet managers, a reason and an end date required, audited, ending by
themselves, never for "expired"."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from certadmin.audit.models import AuditAction, AuditEvent, AuditOutcome
from certadmin.audit.services import RequestContext
from certadmin.findings.models import Finding, Suppression
from certadmin.findings.suppressions import SuppressionRefused, suppression_create
from tests.findings.conftest import PRODUCT, days, leaf_expiring_in

pytestmark = pytest.mark.django_db

REASON = "Ticket OPS-42: spare devices kept in the warehouse"
CONTEXT = RequestContext(ip_address=None, user_agent="")


def _form(**overrides) -> dict:
    ends = timezone.localdate() + timedelta(days=30)
    return {
        "code": "cert.valid_device_inactive",
        "account": "default",
        "product_key": PRODUCT,
        "instance": "",
        "device_name": "",
        "subject": "",
        "reason": REASON,
        "ends_on": ends.isoformat(),
        **overrides,
    }


def test_a_fleet_manager_suppresses_a_product_and_it_is_audited(
    store, run, fleet_manager_client, fleet_manager
):
    record = store(device_status="DISABLE")
    run()
    response = fleet_manager_client.post(reverse("findings:suppressions"), _form())
    assert response.status_code == 302
    finding = Finding.objects.get(device_name=record.device_name)
    assert finding.suppressed_until is not None
    event = AuditEvent.objects.get(action=AuditAction.FINDING_SUPPRESS)
    assert (event.outcome, event.actor_username, event.product_key) == (
        AuditOutcome.SUCCESS,
        fleet_manager.username,
        PRODUCT,
    )
    assert event.reason == REASON
    assert event.detail.startswith("cert.valid_device_inactive until ")
    # The page's default list leaves it out; "suppressed" shows it.
    page = fleet_manager_client.get(reverse("findings:fleet"))
    assert record.device_name not in page.content.decode()
    page = fleet_manager_client.get(reverse("findings:fleet"), {"state": "suppressed"})
    assert record.device_name in page.content.decode()
    # A run keeps it suppressed; so does a new finding of the product while it lasts.
    later = store(device_status="DISABLE")
    run()
    assert Finding.objects.get(device_name=later.device_name).suppressed_until is not None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"reason": ""}, "Give a reason"),
        ({"reason": "x x x"}, "different words"),
        ({"ends_on": ""}, "Give an end date"),
        ({"ends_on": timezone.localdate().isoformat()}, "in the future"),
        ({"ends_on": (timezone.localdate() + timedelta(days=400)).isoformat()}, "at most a year"),
        ({"code": "cert.expired"}, "Select a valid choice"),
    ],
)
def test_a_suppression_needs_a_reason_and_an_end_date_and_never_expired(
    fleet_manager_client, overrides, message
):
    response = fleet_manager_client.post(reverse("findings:suppressions"), _form(**overrides))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Suppression.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditAction.FINDING_SUPPRESS).exists()


def test_expired_is_never_suppressed_and_the_attempt_is_recorded(fleet_manager, dashboard_iot):
    with pytest.raises(SuppressionRefused):
        suppression_create(
            actor=fleet_manager,
            context=CONTEXT,
            code="cert.expired",
            account="default",
            product_key=PRODUCT,
            reason=REASON,
            ends_at=timezone.now() + days(3),
        )
    assert not Suppression.objects.exists()
    event = AuditEvent.objects.get(action=AuditAction.FINDING_SUPPRESS)
    assert event.outcome == AuditOutcome.REFUSED


def test_an_expired_finding_stays_unsuppressed_even_under_a_product_wide_suppression(
    store, run, fleet_manager
):
    record = store(leaf_expiring_in(-days(1)))
    run()
    # Even a row written behind the service's back does not cover it.
    Suppression.objects.create(
        code="cert.expired",
        account="default",
        product_key=PRODUCT,
        reason=REASON,
        ends_at=timezone.now() + days(5),
        created_at=timezone.now(),
        created_by_username="someone",
    )
    run()
    assert (
        Finding.objects.get(device_name=record.device_name, code="cert.expired").suppressed_until
        is None
    )


def test_a_suppression_ends_by_itself(store, run, fleet_manager):
    record = store(status=1)
    run()
    suppression = suppression_create(
        actor=fleet_manager,
        context=CONTEXT,
        code="cert.generation_failed",
        account="default",
        product_key=PRODUCT,
        device_name=record.device_name,
        reason=REASON,
        ends_at=timezone.now() + days(2),
    )
    finding = Finding.objects.get(device_name=record.device_name)
    assert finding.suppressed_until == suppression.ends_at
    run(now=timezone.now() + days(3))
    finding.refresh_from_db()
    # Past its end: no longer counted as suppressed, with nobody doing anything.
    assert finding.suppressed_until is None


def test_withdrawing_is_audited_and_unsuppresses(store, run, fleet_manager_client):
    record = store(status=1)
    run()
    fleet_manager_client.post(
        reverse("findings:suppressions"),
        _form(code="cert.generation_failed", device_name=record.device_name),
    )
    suppression = Suppression.objects.get()
    response = fleet_manager_client.post(reverse("findings:suppression-end", args=[suppression.pk]))
    assert response.status_code == 302
    suppression.refresh_from_db()
    assert suppression.withdrawn_at is not None
    assert Finding.objects.get(device_name=record.device_name).suppressed_until is None
    assert AuditEvent.objects.filter(action=AuditAction.FINDING_UNSUPPRESS).count() == 1


@pytest.mark.parametrize("role", [None, "Viewer", "Key custodian", "Auditor", "superuser"])
def test_only_fleet_managers_may_suppress(make_user, client_for, dashboard_iot, role):
    client = client_for(make_user(role))
    expected = 200 if role == "superuser" else 403
    assert client.get(reverse("findings:suppressions")).status_code == expected
    response = client.post(reverse("findings:suppressions"), _form())
    assert response.status_code == (302 if role == "superuser" else 403)
    if role != "superuser":
        assert not Suppression.objects.exists()


def test_the_service_refuses_someone_without_the_permission(viewer, dashboard_iot):
    with pytest.raises(SuppressionRefused):
        suppression_create(
            actor=viewer,
            context=CONTEXT,
            code="cert.expiring",
            account="default",
            product_key=PRODUCT,
            reason=REASON,
            ends_at=timezone.now() + days(3),
        )
