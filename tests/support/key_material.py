"""What the key-access tests share: the emulator's real answer, a leak detector, and shortcuts
for re-authentication and reading the audit trail."""

import time

from django.conf import settings
from django.test import Client

from certadmin.accounts.reauth import SESSION_KEY as REAUTH_SESSION_KEY
from certadmin.audit.models import AuditEvent
from certadmin.emulator import DEMO_PRODUCT_KEY
from certadmin.iot.client import IotClient
from certadmin.iot.results import DeviceCert


def api_answer(
    emulator, device_name: str, product_key: str = DEMO_PRODUCT_KEY, iot_instance_id=None
) -> DeviceCert:
    """What the emulator returns for the device, fetched directly (not through the dashboard)."""
    client = IotClient(
        endpoint=emulator.url,
        access_key_id=settings.DEMO_ACCESS_KEY_ID,
        access_key_secret=settings.DEMO_ACCESS_KEY_SECRET,
        rate_limiter=None,
    )
    try:
        return client.query_device_cert(
            product_key=product_key, device_name=device_name, iot_instance_id=iot_instance_id
        )
    finally:
        client.close()


def key_fragments(key_text: str) -> list[str]:
    """The key text and each base64 line of it: any of them in an output is a leak."""
    lines = [line.strip() for line in key_text.splitlines()]
    return [key_text.strip(), *(line for line in lines if len(line) >= 16 and "-----" not in line)]


def assert_no_key_in(text: str, key_text: str, where: str = "the output") -> None:
    """Fail if any fragment of the key appears in ``text``."""
    for fragment in key_fragments(key_text):
        assert fragment not in text, f"private key material found in {where}"


def reauth_now(client: Client) -> None:
    """Mark the client's session as freshly re-authenticated."""
    session = client.session
    session[REAUTH_SESSION_KEY] = time.time()
    session.save()


def events(**filters) -> list[AuditEvent]:
    """Audit events matching ``filters``, oldest first."""
    return list(AuditEvent.objects.filter(**filters).order_by("id"))
