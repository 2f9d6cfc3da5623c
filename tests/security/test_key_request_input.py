"""Reasons, passphrases and oversize key requests.

A reason must carry words (of any script, after NFKC), on one line, with no invisible
formatting (tightened since: tests/security/test_reasons_and_passphrases.py); a PKCS#12
passphrase must have some strength; an oversize request, refused before
any view reads it, is still recorded as a refused key access and answered 413.
"""

import pytest

from certadmin.audit.models import AuditAction, AuditEvent, AuditOutcome
from certadmin.audit.reasons import KeyAccessForm
from certadmin.devices.forms import KeyActionForm
from certadmin.emulator import DEMO_PRODUCT_KEY
from tests.support.emulator import api_calls
from tests.support.key_material import reauth_now

pytestmark = pytest.mark.django_db

PK = DEMO_PRODUCT_KEY
KEY_URL = f"/devices/{PK}/thermo-001/key/"
GOOD_REASON = "Ticket OPS-4242: commissioning a replacement gateway"

EMPTY_REASONS = {
    "zero-width-spaces": "\u200b" * 10,
    "hangul-fillers": "\u3164" * 10,
    "halfwidth-hangul-fillers": "\uffa0" * 10,
    "choseong-fillers": "\u115f\u1160" * 5,
    "dots": "." * 10,
    "punctuation-and-spaces": "- . - . - . - . - .",
}
INVISIBLE_FORMATTING = {
    "right-to-left-override": "Ticket 4242 \u202edaolnwod",
    "isolates": "Ticket 4242 \u2066gateway\u2069 swap",
    "marks": "Ticket 4242\u200f gateway swap",
    "arabic-letter-mark": "Ticket 4242\u061c gateway swap",
    "line-separator": "Ticket 4242\u2028gateway swap",
    "paragraph-separator": "Ticket 4242\u2029gateway swap",
    "line-break": "Ticket 4242\nreplacement gateway",
    "zero-width-joiner": "Ticket 4242 gate\u200dway swap",
}
REAL_REASONS = {
    "chinese": "更换网关证书，工单四二",
    "korean": "게이트웨이 교체 작업 티켓",
    "arabic": "استبدال البوابة رقم ٤٢",
    "fullwidth": "Ｔｉｃｋｅｔ　４２４２ ｇａｔｅ",
}


@pytest.mark.parametrize("reason", [*EMPTY_REASONS.values(), *INVISIBLE_FORMATTING.values()])
def test_a_reason_without_words_or_with_invisible_formatting_is_refused(reason):
    form = KeyAccessForm({"reason": reason})

    assert not form.is_valid()
    assert form.has_error("reason")


@pytest.mark.parametrize("reason", REAL_REASONS.values(), ids=REAL_REASONS)
def test_a_reason_in_words_of_any_script_is_accepted(reason):
    form = KeyAccessForm({"reason": reason})

    assert form.is_valid(), form.errors


def test_the_recorded_reason_is_normalised():
    form = KeyAccessForm({"reason": REAL_REASONS["fullwidth"]})

    assert form.is_valid()
    assert form.cleaned_data["reason"] == "Ticket 4242 gate"


@pytest.mark.parametrize("name", sorted(EMPTY_REASONS) + sorted(INVISIBLE_FORMATTING))
def test_a_reveal_with_such_a_reason_shows_no_key_and_is_recorded_as_refused(
    dashboard_iot, custodian, client_for, name
):
    reason = {**EMPTY_REASONS, **INVISIBLE_FORMATTING}[name]
    browser = client_for(custodian)
    reauth_now(browser)
    before = api_calls(dashboard_iot)

    response = browser.post(KEY_URL, {"action": "reveal", "reason": reason})

    assert response.status_code == 400
    assert "PRIVATE KEY" not in response.content.decode()
    assert api_calls(dashboard_iot) == before
    outcomes = list(AuditEvent.objects.values_list("outcome", "detail"))
    assert outcomes == [(AuditOutcome.REFUSED, "no valid reason given")]


@pytest.mark.parametrize(
    "passphrase", [" " * 12, " " * 30, "abababababab", "a a a a a a a a", "\u200b" * 12 + "abcde"]
)
def test_a_weak_pkcs12_passphrase_is_refused(passphrase):
    form = KeyActionForm(
        {
            "reason": GOOD_REASON,
            "action": "p12",
            "passphrase": passphrase,
            "passphrase_confirm": passphrase,
        }
    )

    assert not form.is_valid()
    assert form.has_error("passphrase")


def test_a_common_password_is_refused_as_a_passphrase():
    form = KeyActionForm(
        {
            "reason": GOOD_REASON,
            "action": "p12",
            "passphrase": "password1234",
            "passphrase_confirm": "password1234",
        }
    )

    assert not form.is_valid()


def test_a_p12_with_a_passphrase_of_spaces_is_not_handed_out(dashboard_iot, custodian, client_for):
    browser = client_for(custodian)
    reauth_now(browser)
    spaces = " " * 12

    response = browser.post(
        KEY_URL,
        {
            "reason": GOOD_REASON,
            "action": "p12",
            "passphrase": spaces,
            "passphrase_confirm": spaces,
        },
    )

    assert response.status_code == 400
    assert "Content-Disposition" not in response
    assert not AuditEvent.objects.filter(outcome=AuditOutcome.SUCCESS).exists()


@pytest.mark.parametrize("chosen", ["reveal", "key"])
def test_an_oversize_key_request_is_answered_413_and_recorded(
    dashboard_iot, custodian, client_for, chosen
):
    browser = client_for(custodian)
    reauth_now(browser)
    before = api_calls(dashboard_iot)
    marker = "OVERSIZE-MARKER-"

    response = browser.post(
        KEY_URL, {"action": chosen, "reason": marker + "x" * (10 * 1024 * 1024)}
    )

    assert response.status_code == 413
    assert "too large" in response.content.decode()
    assert "Content-Disposition" not in response
    assert api_calls(dashboard_iot) == before
    event = AuditEvent.objects.get()
    # The body is never read, so what was asked is not known: a refused key access (download).
    assert (event.action, event.outcome) == (AuditAction.KEY_DOWNLOAD, AuditOutcome.DENIED)
    assert event.device_name == "thermo-001"
    assert event.detail.startswith("request too large (")
    assert event.reason == ""
    assert marker not in " ".join(str(v) for v in AuditEvent.objects.values().get().values())


def test_an_oversize_request_on_a_non_canonical_path_is_not_recorded(
    dashboard_iot, custodian, client_for
):
    browser = client_for(custodian)
    reauth_now(browser)

    response = browser.post(f"/devices/{PK}/%09thermo-001/key/", {"reason": "x" * 3_000_000})

    assert response.status_code == 404
    assert not AuditEvent.objects.exists()
