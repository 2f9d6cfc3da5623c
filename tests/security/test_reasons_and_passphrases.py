"""Reasons and passphrases.

A reason is one line of at least ``REASON_MIN_WORDS`` different words in any script (each
Chinese or Japanese character a word): repeated characters or words, invisible characters,
variation selectors, floods of combining marks and line breaks are refused, each with a message
that says what is wrong. A passphrase is judged by zxcvbn's estimate of its guessing cost, with
the person's and the device's names and the files' names as what an attacker knows, and is
never the person's login password. A passphrase reaches no log, no audit row, no page.
"""

import logging
import unicodedata

import pytest
from django.contrib.auth.hashers import get_hasher
from django.test import Client
from django.urls import reverse

from certadmin.audit.models import AuditEvent, AuditOutcome
from certadmin.audit.reasons import KeyAccessForm, reason_words
from certadmin.devices.downloads import key_file_name, passphrase_context
from certadmin.devices.forms import KeyActionForm, passphrase_problem
from certadmin.emulator import DEMO_PRODUCT_KEY
from certadmin.iot.identity import DeviceRef
from tests.support.key_material import reauth_now
from tests.support.people import ROLE_PASSWORD

pytestmark = pytest.mark.django_db

PK = DEMO_PRODUCT_KEY
DEVICE = DeviceRef(PK, "thermo-001")
REASON = "Ticket OPS-4711: replacement gateway"
STRONG = "a long zip passphrase 77"

WORDS = "at least 3 different words"
ONE_LINE = "Write the reason on one line"
INVISIBLE = "Remove the invisible characters"
CONTROL = "Remove the control characters"
MARKS = "Remove the stacked accents"
NO_WORDS = "Give a reason in words"

BAD_REASONS = {
    "repeated-word": ("xxxxx xxxxx", WORDS),
    "repeated-characters": ("xxxxxxxxxxxxxxxx", WORDS),
    "repeated-words": ("fix fix fix fix fix", WORDS),
    "two-words": ("board swap", WORDS),
    "repeated-chinese": ("证证证证证证", WORDS),
    "one-word": ("reprovisioning", WORDS),
    "digits-only-repeats": ("1111 2222 3333", WORDS),
    "line-feed": ("Ticket 4711\nreplacement gateway", ONE_LINE),
    "carriage-return": ("Ticket 4711\rreplacement gateway", ONE_LINE),
    "next-line": ("Ticket 4711\x85replacement gateway", ONE_LINE),
    "line-separator": ("Ticket 4711\u2028replacement gateway", ONE_LINE),
    "paragraph-separator": ("Ticket 4711\u2029replacement gateway", ONE_LINE),
    "tab": ("Ticket 4711\treplacement gateway", CONTROL),
    "control-only": ("\x01\x02\x03\x04\x05", CONTROL),
    "variation-selector": ("Ticket 4711 gate\ufe0fway swap", INVISIBLE),
    "variation-selector-supplement": ("Ticket 4711 gate\U000e0100way swap", INVISIBLE),
    "variation-selectors-only": ("\ufe0f" * 12, INVISIBLE),
    "mongolian-variation-selector": ("Ticket 4711 gate\u180bway swap", INVISIBLE),
    "tag-characters": ("Ticket 4711 \U000e0041\U000e0042 swap", INVISIBLE),
    "hangul-fillers": ("\u3164" * 10, INVISIBLE),
    "combining-grapheme-joiner": ("Ticket 4711 gate\u034fway swap", INVISIBLE),
    "marks-stacked-on-one-letter": ("Ticket 4711 Z\u0334\u0335\u0336\u0337 gateway", MARKS),
    "more-marks-than-letters": ("q\u0334\u0335 x\u0334\u0335 j\u0334\u0335 4\u0334", MARKS),
    "marks-only": ("\u0334\u0335\u0336", MARKS),
    "punctuation-only": ("- . - . - . - .", NO_WORDS),
}
GOOD_REASONS = {
    "chinese": "更换设备证书",
    "short-chinese": "更换证书",
    "japanese": "証明書を交換します",
    "korean": "게이트웨이 교체 작업 티켓",
    "thai-with-spaces": "เปลี่ยนใบรับรอง ตั๋ว 4711",
    "hindi": "डिवाइस प्रमाणपत्र बदलना",
    "arabic": "استبدال البوابة رقم ٤٢",
    "vietnamese-decomposed": unicodedata.normalize("NFD", "Thay chứng chỉ thiết bị"),
    "hebrew-pointed": "הַחְלָפַת תְּעוּדָה לַמַּכְשִׁיר",
    "ticket": "Ticket OPS-4711: board swap",
    "fullwidth": "Ｔｉｃｋｅｔ　４２４２ ｇａｔｅ",
}


def _reason_errors(reason: str) -> list[str]:
    form = KeyAccessForm({"reason": reason})
    return [] if form.is_valid() else form.errors["reason"]


@pytest.mark.parametrize("name", BAD_REASONS)
def test_each_bad_reason_is_refused_with_what_is_wrong(name):
    reason, message = BAD_REASONS[name]

    errors = _reason_errors(reason)

    assert len(errors) == 1
    assert message in errors[0]


@pytest.mark.parametrize("name", GOOD_REASONS)
def test_a_reason_in_words_of_any_script_is_accepted(name):
    assert _reason_errors(GOOD_REASONS[name]) == []


def test_chinese_and_japanese_characters_are_each_a_word_and_repeats_are_not():
    assert reason_words("更换设备证书") == ["更", "换", "设", "备", "证", "书"]
    assert reason_words("証明書を交換") == ["証", "明", "書", "を", "交", "換"]
    assert reason_words("Ticket OPS-4711: xxxxx aa a") == ["ticket", "ops", "4711"]


def test_a_meaningful_chinese_reason_reveals_the_key_and_is_recorded(
    dashboard_iot, custodian, client_for
):
    browser = client_for(custodian)
    reauth_now(browser)

    response = browser.post(
        reverse("devices:key", args=[PK, "thermo-001"]),
        {"action": "reveal", "reason": "更换设备证书"},
    )

    assert response.status_code == 200
    assert "PRIVATE KEY" in response.content.decode()
    event = AuditEvent.objects.get()
    assert (event.outcome, event.reason) == (AuditOutcome.SUCCESS, "更换设备证书")


def test_a_repeated_reason_is_refused_on_the_page_and_recorded_as_refused(
    dashboard_iot, custodian, client_for
):
    browser = client_for(custodian)
    reauth_now(browser)

    response = browser.post(
        reverse("devices:key", args=[PK, "thermo-001"]),
        {"action": "reveal", "reason": "xxxxx xxxxx"},
    )

    assert response.status_code == 400
    assert WORDS in response.content.decode()
    assert "PRIVATE KEY" not in response.content.decode()
    event = AuditEvent.objects.get()
    assert (event.outcome, event.detail, event.reason) == (
        AuditOutcome.REFUSED,
        "no valid reason given",
        "",
    )


# --- Passphrases ---------------------------------------------------------------------------------


@pytest.fixture
def alice(make_user):
    user = make_user("Key custodian", username="alice-keeper")
    user.first_name, user.last_name, user.email = "Alice", "Keeper", "alice.keeper@example.com"
    user.save()
    return user


def _passphrase_errors(passphrase: str, user, kind: str = "p12") -> list[str]:
    form = KeyActionForm(
        {
            "reason": REASON,
            "action": kind,
            "passphrase": passphrase,
            "passphrase_confirm": passphrase,
        },
        passphrase_context=passphrase_context(user=user, device=DEVICE),
    )
    return [] if form.is_valid() else form.errors.get("passphrase", [])


GUESSABLE = "would be guessed too easily"
NAMED = "a name anyone with the file can read"
LOGIN = "Do not use your login password"


@pytest.mark.parametrize(
    ("passphrase", "message", "advice"),
    [
        ("123456789012", GUESSABLE, "This is similar to a commonly used password."),
        ("passwordpassword", GUESSABLE, 'Repeats like "abcabcabc"'),
        ("qwertyuiopasdf", GUESSABLE, "This is similar to a commonly used password."),
        ("asdfghjkl;lkjh", GUESSABLE, "Short keyboard patterns are easy to guess."),
        ("Summer2024!!", GUESSABLE, ""),
        ("abcdefghijklmnop", GUESSABLE, 'Sequences like "abc"'),
        # Spaces are no help: the passphrase is judged without them too.
        ("alice keeper alice", GUESSABLE, ""),
    ],
)
def test_a_guessable_passphrase_is_refused_with_zxcvbns_advice(alice, passphrase, message, advice):
    [error] = _passphrase_errors(passphrase, alice)

    assert message in error
    assert advice in error


@pytest.mark.parametrize("kind", ["p12", "zip", "key", "zip-plain"])
def test_a_key_files_own_name_is_refused_as_its_passphrase(alice, kind):
    name = key_file_name(DEVICE, kind)
    for passphrase in (name, name.rpartition(".")[0], name.upper()):
        [error] = _passphrase_errors(passphrase, alice)
        assert NAMED in error


@pytest.mark.parametrize("passphrase", ["alice-keeper", "alice.keeper@example.com", "thermo-001"])
def test_the_persons_or_the_devices_name_is_refused(alice, passphrase):
    padded = passphrase if len(passphrase) >= 12 else passphrase + "!!!!"
    [error] = _passphrase_errors(padded, alice)
    assert NAMED in error or GUESSABLE in error


def test_the_custodians_login_password_is_refused_and_nothing_is_stored(alice):
    # A hash the hasher would upgrade: user.check_password would save the new one.
    hasher = get_hasher()
    alice.password = hasher.encode(ROLE_PASSWORD, hasher.salt(), iterations=2)
    alice.save()
    stored = alice.password

    [error] = _passphrase_errors(ROLE_PASSWORD, alice)

    assert LOGIN in error
    alice.refresh_from_db()
    assert alice.password == stored


@pytest.mark.parametrize(
    "passphrase",
    [STRONG, "correct horse battery staple", "k9#Lm2$vQ8!zX", "墨绿色的火车在午夜里轻轻唱歌"],
)
def test_good_passphrases_pass(alice, passphrase):
    assert _passphrase_errors(passphrase, alice) == []


def test_a_passphrase_needs_no_context_to_be_judged():
    assert GUESSABLE in passphrase_problem("123456789012")
    assert passphrase_problem(STRONG) == ""


def test_a_refused_passphrase_reaches_no_log_audit_row_or_page(
    dashboard_iot, alice, caplog, settings
):
    browser = Client()
    browser.force_login(alice)
    reauth_now(browser)
    url = reverse("devices:key", args=[PK, "thermo-001"])
    caplog.set_level(logging.DEBUG)
    secrets = {
        ROLE_PASSWORD: LOGIN,
        key_file_name(DEVICE, "p12"): NAMED,
        "123456789012": GUESSABLE,
    }

    for passphrase, message in secrets.items():
        response = browser.post(
            url,
            {
                "action": "p12",
                "reason": REASON,
                "passphrase": passphrase,
                "passphrase_confirm": passphrase,
            },
        )
        body = response.content.decode()
        assert response.status_code == 400
        assert message in body
        assert passphrase not in body
        assert "Content-Disposition" not in response
    handed_out = browser.post(
        url,
        {"action": "p12", "reason": REASON, "passphrase": STRONG, "passphrase_confirm": STRONG},
    )
    assert handed_out.status_code == 200

    rows = [str(value) for row in AuditEvent.objects.values() for value in row.values()]
    assert [e.outcome for e in AuditEvent.objects.order_by("pk")] == [
        AuditOutcome.REFUSED,
        AuditOutcome.REFUSED,
        AuditOutcome.REFUSED,
        AuditOutcome.SUCCESS,
    ]
    logged = "\n".join(
        [record.getMessage() for record in caplog.records]
        + [repr(record.args) for record in caplog.records]
    )
    for passphrase in [*secrets, STRONG]:
        if passphrase == key_file_name(DEVICE, "p12"):
            continue  # the file's name is no secret: the successful download is named so
        assert not any(passphrase in value for value in rows)
        assert passphrase not in logged
