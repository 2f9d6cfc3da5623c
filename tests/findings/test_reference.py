"""Three runs over a crafted inventory of a few hundred records, every code and rank, compared
with what the engine found before its runs streamed the inventory (issue 24): every finding
row (open and closed, its times and severity history) and every run's summary, exactly.

``run_reference.json`` was written by the engine of before on this inventory
(``REFERENCE_WRITE=1``); a change that finds something else fails here.
"""

import json
import os
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from certadmin.devices.models import CertificateRecord
from certadmin.findings.checks.lint import linter_version
from certadmin.findings.models import Finding, LintResult, PendingGeneration, Suppression

pytestmark = pytest.mark.django_db

REFERENCE = Path(__file__).with_name("run_reference.json")
T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PRODUCTS = (("default", "a1RefOne"), ("default", "a1RefTwo"), ("eu", "a1RefEu"))
GONE = ("default", "a1RefGone")
# Fingerprints with stored lint results: errors and a warning, a warning only, nothing.
LINTED = {
    "AA:01": [["ERROR", "pkix.rule_one"], ["WARNING", "pkix.rule_two"]],
    "AA:02": [["WARNING", "pkix.rule_two"]],
    "AA:03": [],
    "AA:04": [["FATAL", "certificate.undecodable"]],
}
SCENARIOS = (
    "healthy",
    "expired",
    "expiring",
    "generating",
    "generating_new",
    "failed",
    "disabled",
    "unactive",
    "disabled_expired",
    "disabled_future",
    "weak_rsa",
    "weak_ec",
    "dsa",
    "sha1",
    "md5",
    "shared",
    "chain_invalid",
    "chain_unverified",
    "chain_invalid_expired",
    "too_old",
    "stale",
    "never_checked",
    "lint_unlinted",
    "removed",
    # Exactly on a bound: within the window, not yet stale, not yet too old.
    "expiring_edge",
    "stale_edge",
    "too_old_edge",
)


def _record(rng: random.Random, account: str, product: str, number: int, scenario: str):
    days = timedelta(days=1)
    fields = {
        "account": account,
        "product_key": product,
        "device_name": f"ref-{product[5:].lower()}-{number:03d}",
        "device_status": rng.choice(("ONLINE", "ONLINE", "OFFLINE")),
        "node_type": rng.choice((0, 0, 1, None)),
        "status": 2,
        "sha256_fingerprint": rng.choice(sorted(LINTED)),
        "not_before": T0 - 30 * days,
        "not_after": T0 + rng.randint(60, 900) * days,
        "public_key_sha256": f"{number:04d}{product}".ljust(64, "0"),
        "key_algorithm": "EC",
        "key_size": 256,
        "key_curve": "secp256r1",
        "signature_hash": "sha256",
        "chain_status": "verified",
        "last_checked": T0 - timedelta(hours=rng.randint(0, 100)),
    }
    if scenario == "expired":
        fields["not_after"] = T0 - rng.uniform(0.01, 40) * days
    elif scenario == "expiring":
        fields["not_after"] = T0 + rng.choice((0.5, 1.0, 3, 7, 9, 14, 16, 20, 29.5, 31)) * days
    elif scenario in ("generating", "generating_new", "failed"):
        fields.update(
            status=1 if scenario == "failed" else 0,
            sha256_fingerprint="",
            not_before=None,
            not_after=None,
            public_key_sha256="",
            key_algorithm="",
            key_size=None,
            key_curve="",
            signature_hash="",
            chain_status="",
        )
    elif scenario in ("disabled", "unactive"):
        fields["device_status"] = "DISABLE" if scenario == "disabled" else "UNACTIVE"
    elif scenario == "disabled_expired":
        fields.update(device_status="DISABLE", not_after=T0 - 3 * days)
    elif scenario == "disabled_future":
        fields.update(device_status="DISABLE", not_before=T0 + 2 * days)
    elif scenario == "weak_rsa":
        fields.update(key_algorithm="RSA", key_size=1024, key_curve="")
    elif scenario == "weak_ec":
        fields.update(key_size=192, key_curve=rng.choice(("secp192r1", "")))
    elif scenario == "dsa":
        fields.update(key_algorithm="DSA", key_size=rng.choice((1024, None)), key_curve="")
    elif scenario in ("sha1", "md5"):
        fields["signature_hash"] = scenario
    elif scenario == "shared":
        fields["public_key_sha256"] = f"shared{number % 3}".ljust(64, "f")
    elif scenario == "chain_invalid":
        fields["chain_status"] = "invalid"
    elif scenario == "chain_unverified":
        fields["chain_status"] = "unverified"
    elif scenario == "chain_invalid_expired":
        fields.update(chain_status="invalid", not_after=T0 - 2 * days)
    elif scenario == "too_old":
        fields.update(not_before=T0 - 1900 * days)
    elif scenario == "stale":
        fields["last_checked"] = T0 - rng.uniform(7.5, 30) * days
    elif scenario == "never_checked":
        fields["last_checked"] = None
    elif scenario == "lint_unlinted":
        fields["sha256_fingerprint"] = f"BB:{number:03d}"
    elif scenario == "expiring_edge":
        fields["not_after"] = T0 + rng.choice((1, 7, 14, 30)) * days
    elif scenario == "stale_edge":
        fields["last_checked"] = T0 - 7 * days
    elif scenario == "too_old_edge":
        fields["not_before"] = T0 - 1825 * days
    elif scenario == "removed":
        fields.update(removed_at=T0 - days, not_after=T0 - days, chain_status="invalid")
    return CertificateRecord(**fields)


def _inventory() -> None:
    rng = random.Random(24)
    records = []
    for account, product in (*PRODUCTS, GONE):
        for number in range(len(SCENARIOS) * 4 if product != GONE[1] else 12):
            records.append(
                _record(rng, account, product, number, SCENARIOS[number % len(SCENARIOS)])
            )
    CertificateRecord.objects.bulk_create(records)
    LintResult.objects.bulk_create(
        LintResult(
            sha256_fingerprint=fingerprint,
            problems=problems,
            linter_version=linter_version(),
            linted_at=T0,
        )
        for fingerprint, problems in LINTED.items()
    )
    # Generating since two days (stuck) or an hour (not yet); "generating_new" since this run.
    PendingGeneration.objects.bulk_create(
        PendingGeneration(
            account=record.account,
            product_key=record.product_key,
            device_name=record.device_name,
            since=T0 - timedelta(days=2 if number % 2 else 0, hours=1),
        )
        for number, record in enumerate(
            CertificateRecord.objects.filter(status=0).order_by("product_key", "device_name")
        )
        if SCENARIOS[int(record.device_name[-3:]) % len(SCENARIOS)] != "generating_new"
    )
    Suppression.objects.create(
        code="cert.lint",
        account="default",
        product_key="a1RefOne",
        reason="known template problem",
        ends_at=T0 + timedelta(days=90),
        created_at=T0,
        created_by_username="ref",
    )


def _between_runs() -> None:
    """Ten days on: some renewed, some removed, some newly wrong; one product gone."""
    records = CertificateRecord.objects.order_by("account", "product_key", "device_name")
    for number, record in enumerate(records.exclude(product_key=GONE[1])):
        if number % 7 == 0 and record.status == 2:
            record.not_after = T0 + timedelta(days=400)
            record.chain_status = "verified"
        elif number % 11 == 0:
            record.removed_at = T0 + timedelta(days=9)
        elif number % 13 == 0:
            record.device_status = "DISABLE"
        elif number % 17 == 0 and record.status == 0:
            record.status = 2
            record.sha256_fingerprint = "AA:01"
            record.not_before = T0
            record.not_after = T0 + timedelta(days=365)
        if number % 5 != 0:
            record.last_checked = T0 + timedelta(days=9, hours=number % 24)
        record.save()
    CertificateRecord.objects.filter(product_key=GONE[1]).delete()


def _snapshot(summaries) -> dict:
    def text(value):
        return value.isoformat() if isinstance(value, datetime) else value

    leading = ["account", "product_key", "device_name", "code", "subject", "first_seen"]
    columns = leading + [
        field.attname
        for field in Finding._meta.concrete_fields
        if field.attname not in {"id", *leading}
    ]
    # Sorted here, not by the database: the order of text columns follows its collation.
    rows = sorted([text(value) for value in row] for row in Finding.objects.values_list(*columns))
    return {
        "columns": columns,
        "findings": rows,
        "summaries": [
            {k: v for k, v in sorted(vars(s).items()) if k != "seconds"} for s in summaries
        ],
    }


# The run's chunk (and the lint results it keeps at hand) as shipped, and small enough that every
# product spans many chunks: findings of devices between two chunks, or after the last, close.
@pytest.mark.parametrize("chunk", [None, 7])
def test_runs_find_exactly_what_the_engine_found_before(run, settings, monkeypatch, chunk):
    from certadmin.findings import runs

    if chunk:
        monkeypatch.setattr(runs, "CHUNK", chunk)
        monkeypatch.setattr(runs, "LINT_KNOWN_KEPT", 2)
    settings.IOT_CA_BUNDLE = ""
    settings.IOT_DEFAULT_ACCOUNT = "default"
    _inventory()
    summaries = [run(now=T0)]
    _between_runs()
    later = T0 + timedelta(days=10)
    summaries.append(run(now=later))
    summaries.append(run(product_key="a1RefTwo", now=later + timedelta(hours=1)))
    got = _snapshot(summaries)
    if os.environ.get("REFERENCE_WRITE") and not chunk:
        REFERENCE.write_text(json.dumps(got, indent=0, sort_keys=True) + "\n", encoding="utf-8")
    expected = json.loads(REFERENCE.read_text(encoding="utf-8"))
    codes = {row[got["columns"].index("code")] for row in got["findings"]}
    assert codes >= {
        "cert.expired",
        "cert.expired_device_online",
        "cert.expiring",
        "cert.valid_device_inactive",
        "key.weak",
        "key.shared",
        "chain.untrusted",
        "cert.generation_failed",
        "cert.generation_stuck",
        "cert.too_old",
        "cert.lint",
        "record.stale",
    }
    assert got["summaries"] == expected["summaries"]
    assert got["findings"] == expected["findings"]
