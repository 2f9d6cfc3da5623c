"""A certificate the platform has not issued says which: being generated, or generation failed
(QueryDeviceCert Status 0 or 1), in the device table, the expiry overview and the certificate
page alike, never one "Not issued" for both."""

import pytest
from django.urls import reverse
from django.utils import timezone

from certadmin.devices.expiry import expiry_state_label
from certadmin.devices.models import CertificateRecord
from certadmin.devices.rows import inventory_rows, inventory_rows_html
from tests.support.pages import page_text

pytestmark = pytest.mark.django_db

PRODUCT_KEY = "a1Wording01"


def _not_issued(device_name: str, status: int) -> CertificateRecord:
    return CertificateRecord.objects.create(
        product_key=PRODUCT_KEY,
        device_name=device_name,
        status=status,
        last_checked=timezone.now(),
    )


def test_the_label_names_the_status_only_where_the_certificate_is_not_issued():
    assert expiry_state_label(state="not_issued", status=0) == "Certificate being generated"
    assert expiry_state_label(state="not_issued", status=1) == "Certificate generation failed"
    assert expiry_state_label(state="days_over_90", status=2) == "Expires in more than 90 days"
    assert expiry_state_label(state="never", status=None) == "Never checked"


def test_device_table_rows_say_generating_or_failed():
    rows = inventory_rows([_not_issued("gen-0001", 0), _not_issued("fail-0001", 1)])
    assert [row.state for row in rows] == ["not_issued", "not_issued"]
    html = inventory_rows_html(rows, all_products=False)
    assert "Certificate being generated" in html
    assert "Certificate generation failed" in html
    assert "Not issued" not in html


def test_expiry_overview_table_says_which(viewer, client_for):
    _not_issued("gen-0001", 0)
    _not_issued("fail-0001", 1)
    response = client_for(viewer).get(
        reverse("devices:expiry"), {"product_key": PRODUCT_KEY, "state": "not_issued"}
    )
    assert response.status_code == 200
    table = page_text(response).split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    assert "Certificate being generated" in table
    assert "Certificate generation failed" in table
    assert "Not issued" not in table
