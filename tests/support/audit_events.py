"""Audit events for tests, written through the real service (so the chain is real)."""

import csv
import io
import json
import zipfile

from django.db import connection

from certadmin.audit.append_only import triggers_lifted
from certadmin.audit.models import AuditAction, AuditEvent, AuditOutcome
from certadmin.audit.services import RequestContext, audit_record
from certadmin.iot.identity import DeviceRef

CONTEXT = RequestContext(ip_address="192.0.2.10", user_agent="pytest-audit")


def make_event(**overrides) -> AuditEvent:
    """Append one event with plausible defaults; any ``audit_record`` argument can be overridden,
    and the device's parts one by one (``product_key``, ``device_name``, ``iot_instance_id``,
    ``account``; the account is empty unless given, as in rows written before accounts)."""
    device = {
        "product_key": "a1B2c3D4e5F",
        "device_name": "sensor-01",
        "iot_instance_id": "",
        "account": "",
    }
    device.update({name: overrides.pop(name) for name in list(device) if name in overrides})
    values = {
        "action": AuditAction.KEY_REVEAL,
        "outcome": AuditOutcome.SUCCESS,
        "actor": None,
        "context": CONTEXT,
        "device": DeviceRef(**device),
        "cert_sn": "1234567890",
        "certificate_sha256": "ab" * 32,
        "key_fingerprint": "cd" * 32,
        "reason": "ticket OPS-1: rotate the gateway",
    }
    values.update(overrides)
    return audit_record(**values)


def make_events(count: int, **overrides) -> list[AuditEvent]:
    return [make_event(detail=f"event {n}", **overrides) for n in range(count)]


def tamper(sql: str, params: list | tuple = ()) -> None:
    """Run raw SQL against the audit table with its append-only triggers lifted (tests only)."""
    with triggers_lifted(connection=connection), connection.cursor() as cursor:
        cursor.execute(sql, params)


def export_unpacked(content: bytes) -> tuple[list[dict], dict]:
    """An export archive's CSV rows (as dicts) and its manifest."""
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert archive.namelist() == ["events.csv", "manifest.json"]
        rows = list(csv.DictReader(io.StringIO(archive.read("events.csv").decode("utf-8"))))
        manifest = json.loads(archive.read("manifest.json"))
    return rows, manifest
