"""English and Simplified Chinese: a complete zh-hans catalog, compiled, and used by the pages.

The catalog is ``locale/zh_Hans/LC_MESSAGES/django.po`` (and its compiled ``django.mo``, kept in
the repository so the demo runs without gettext). When a test here fails after you added a
string: run ``manage.py makemessages -l zh_Hans --ignore=.venv --ignore=tests --ignore=var``,
translate the new entries, then ``manage.py compilemessages --ignore=.venv``.
"""

import ast
import gettext
import re
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone, translation

from certadmin.audit.models import AuditEvent, AuditOutcome
from certadmin.certs import details
from certadmin.certs.bundles import PASSPHRASE_MIN_LENGTH
from certadmin.devices import display_names
from certadmin.devices.models import CertificateRecord
from certadmin.emulator import DEMO_PRODUCT_KEY
from tests.support.pages import page_text
from tests.support.people import ROLE_PASSWORD

ROOT = Path(settings.BASE_DIR)
LOCALE_DIR = ROOT / "locale" / "zh_Hans" / "LC_MESSAGES"
PO_FILE = LOCALE_DIR / "django.po"
MO_FILE = LOCALE_DIR / "django.mo"
TEMPLATES = ROOT / "templates"
DEVICE_URL = f"/devices/{DEMO_PRODUCT_KEY}/thermo-001/"
MSGFMT = shutil.which("msgfmt")
XGETTEXT = shutil.which("xgettext")

PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")
HTML_TAG = re.compile(r"</?[a-zA-Z][^>]*>")
CHINESE = re.compile(r"[\u4e00-\u9fff]")


# --- a tiny .po reader ----------------------------------------------------------------------------


def read_po(path: Path) -> list[dict]:
    """The entries of a .po file: msgctxt, msgid, msgid_plural, msgstr (list), flags, obsolete."""
    entries = []
    for block in path.read_text(encoding="utf-8").strip().split("\n\n"):
        entry: dict = {"flags": set(), "msgstr": [], "obsolete": False}
        key = None
        for line in block.splitlines():
            if line.startswith("#~"):
                entry["obsolete"] = True
                continue
            if line.startswith("#,"):
                entry["flags"].update(flag.strip() for flag in line[2:].split(","))
                continue
            if line.startswith("#"):
                continue
            if line.startswith('"'):
                text = ast.literal_eval(line)
                if key == "msgstr":
                    entry["msgstr"][-1] += text
                else:
                    entry[key] += text
                continue
            word, _, rest = line.partition(" ")
            text = ast.literal_eval(rest)
            if word.startswith("msgstr"):
                key = "msgstr"
                entry["msgstr"].append(text)
            else:
                key = word
                entry[key] = text
        entries.append(entry)
    return entries


@pytest.fixture(scope="module")
def po_entries() -> list[dict]:
    return read_po(PO_FILE)


@pytest.fixture(scope="module")
def messages(po_entries) -> list[dict]:
    """Every entry but the header."""
    return [entry for entry in po_entries if entry.get("msgid")]


# --- the catalog --------------------------------------------------------------------------------


def test_the_header_declares_chinese_utf8_and_one_plural_form(po_entries):
    [header] = [entry for entry in po_entries if entry.get("msgid") == ""]
    text = header["msgstr"][0]
    assert "Language: zh_Hans\n" in text
    assert "charset=UTF-8" in text
    assert "Plural-Forms: nplurals=1; plural=0;" in text
    assert "fuzzy" not in header["flags"]


def test_every_entry_is_translated_and_none_is_fuzzy_or_obsolete(messages):
    assert len(messages) > 250
    untranslated = [e["msgid"] for e in messages if not all(s.strip() for s in e["msgstr"])]
    fuzzy = [e["msgid"] for e in messages if "fuzzy" in e["flags"]]
    obsolete = [e["msgid"] for e in messages if e["obsolete"]]
    assert untranslated == []
    assert fuzzy == []
    assert obsolete == []


def test_plural_entries_have_exactly_one_form(messages):
    plurals = [entry for entry in messages if "msgid_plural" in entry]
    assert plurals
    assert all(len(entry["msgstr"]) == 1 for entry in plurals)


def test_every_translation_keeps_the_placeholders_and_markup(messages):
    for entry in messages:
        wanted = set(PLACEHOLDER.findall(entry["msgid"] + entry.get("msgid_plural", "")))
        tags = sorted(HTML_TAG.findall(entry["msgid"]))
        for msgstr in entry["msgstr"]:
            assert set(PLACEHOLDER.findall(msgstr)) == wanted, entry["msgid"]
            assert sorted(HTML_TAG.findall(msgstr)) == tags, entry["msgid"]
            assert msgstr.count("%") == msgstr.count("%(") + 2 * msgstr.count("%%"), msgstr


def test_sentences_are_chinese_and_technical_names_stay_as_they_are(messages):
    catalog = {entry["msgid"]: entry["msgstr"][0] for entry in messages}
    for name in ("ProductKey", "DeviceName", "IotInstanceId", "CertSN", "RequestId", "Code"):
        assert catalog[name] == name
    for msgid, msgstr in catalog.items():
        # Every phrase is translated; a msgid of placeholders and punctuation only (how a list
        # or a parenthesis is written) is no phrase: its msgstr is Chinese punctuation.
        if " " in msgid and re.search(r"[A-Za-z]", PLACEHOLDER.sub("", msgid)):
            assert CHINESE.search(msgstr), msgid
    assert catalog["Log in"] == "登录"
    assert catalog["Audit trail"] == "审计日志"
    assert catalog["Private key"] == "私钥"


@pytest.mark.skipif(MSGFMT is None, reason="GNU gettext (msgfmt) is not installed")
def test_msgfmt_accepts_the_catalog():
    result = subprocess.run(
        [MSGFMT, "--check", "-o", "/dev/null", str(PO_FILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_the_compiled_catalog_matches_the_po_file(messages):
    with MO_FILE.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)._catalog
    expected = {}
    for entry in messages:
        key = entry["msgid"]
        if "msgctxt" in entry:
            key = f"{entry['msgctxt']}\x04{key}"
        if "msgid_plural" in entry:
            expected.update({(key, i): text for i, text in enumerate(entry["msgstr"])})
        else:
            expected[key] = entry["msgstr"][0]
    compiled.pop("", None)  # the header
    assert compiled == expected, "django.mo is stale: run manage.py compilemessages"


@pytest.mark.skipif(XGETTEXT is None, reason="GNU gettext (xgettext) is not installed")
def test_the_catalog_covers_every_string_of_the_code_and_templates(tmp_path):
    """makemessages on a copy of the sources, merged into a copy of the catalog, adds nothing."""
    shutil.copytree(ROOT / "certadmin", tmp_path / "certadmin")
    shutil.copytree(TEMPLATES, tmp_path / "templates")
    shutil.copytree(ROOT / "locale", tmp_path / "locale")
    (tmp_path / "i18n_check_settings.py").write_text(
        "from certadmin.settings import *  # noqa: F403\n"
        f"LOCALE_PATHS = [{str(tmp_path / 'locale')!r}]\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-m", "django", "makemessages", "-l", "zh_Hans", "--no-obsolete"],
        cwd=tmp_path,
        env={
            "PATH": str(Path(XGETTEXT).parent),
            "PYTHONPATH": str(tmp_path),
            "DJANGO_SETTINGS_MODULE": "i18n_check_settings",
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    merged = read_po(tmp_path / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po")
    missing = [e["msgid"] for e in merged if e.get("msgid") and not all(e["msgstr"])]
    assert missing == [], "strings with no translation"
    wanted = {e["msgid"] for e in merged if e.get("msgid")}
    current = {e["msgid"] for e in read_po(PO_FILE) if e.get("msgid")}
    assert current - wanted == set(), "entries no longer used by the code"


def test_the_catalog_lists_every_extension_name_of_the_decoder(messages):
    # The names are declared once, in certs.details, marked with its own gettext_noop.
    catalog = {entry["msgid"] for entry in messages}
    names = {*details.EXTENSION_NAMES.values(), details.UNKNOWN_EXTENSION}
    assert details.UNDECODABLE_EXTENSIONS in catalog
    assert names <= catalog


def test_the_decoders_texts_are_translated_at_display_time(messages):
    catalog = {entry["msgid"] for entry in messages}
    texts = [*details.EXTENSION_NAMES.values(), *display_names.CHAIN_REASONS]
    assert set(texts) <= catalog
    with translation.override("zh-hans"):
        assert translation.gettext("Basic constraints") == "基本约束"
        assert translation.gettext("certificate expired") == "证书已过期"
        assert translation.gettext("offline") == "离线"


# --- the pages ----------------------------------------------------------------------------------

EN_DATETIME = re.compile(
    r"(Jan\.|Feb\.|March|April|May|June|July|Aug\.|Sept\.|Oct\.|Nov\.|Dec\.) \d{1,2}, \d{4}"
)
ZH_DATETIME = re.compile(r"\d{4}年\d{1,2}月\d{1,2}日 \d{2}:\d{2}")
# The site's one way to show a moment (certadmin/web/times.py).
UTC_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC\b")
LOCAL_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} CST \(UTC\+08:00\)")


def choose_chinese(client, next_url: str = "/"):
    response = client.post("/i18n/setlang/", {"language": "zh-hans", "next": next_url})
    assert response.status_code == 302
    assert response["Location"] == next_url
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"
    return response


@pytest.mark.django_db
def test_the_login_page_is_english_by_default(client):
    body = page_text(client.get("/login/"))

    assert '<html lang="en">' in body
    assert "Log in</button>" in body


@pytest.mark.django_db
def test_switching_to_chinese_translates_the_login_page(client):
    choose_chinese(client, "/login/")

    body = page_text(client.get("/login/"))

    assert '<html lang="zh-hans">' in body
    assert "登录</button>" in body
    assert "用户名" in body
    assert "Log in" not in body
    assert '<option value="zh-hans" selected>简体中文</option>' in body


@pytest.mark.django_db
def test_a_failed_login_is_explained_in_chinese(client):
    choose_chinese(client, "/login/")

    response = client.post("/login/", {"username": "nobody", "password": "wrong-password-1"})

    assert response.status_code == 200
    assert "请输入一个正确的" in page_text(response)  # Django's own catalog


@pytest.mark.django_db
def test_switching_to_chinese_translates_the_home_page(dashboard_iot, client_for, viewer):
    client = client_for(viewer)
    choose_chinese(client)

    body = page_text(client.get("/"))

    assert '<html lang="zh-hans">' in body
    assert "<h1>查找设备</h1>" in body
    assert "退出登录" in body
    assert "Find a device" not in body
    # switching back works the same way
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert "<h1>Find a device</h1>" in page_text(client.get("/"))


@pytest.mark.django_db
def test_the_certificate_page_shows_times_one_way_in_every_language(
    dashboard_iot, client_for, viewer
):
    client = client_for(viewer)
    english = page_text(client.get(DEVICE_URL))

    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    response = client.get(DEVICE_URL)

    assert response.status_code == 200
    body = page_text(response)
    assert '<html lang="zh-hans">' in body
    assert "证书已就绪" in body
    assert "生效时间" in body
    assert "到期时间" in body
    assert "基本约束" in body  # an extension name from the decoder, translated for display
    for shown in (english, body):
        # Validity in UTC and in the site's zone, both labelled, the same in both languages.
        assert UTC_TIMESTAMP.search(shown)
        assert LOCAL_TIMESTAMP.search(shown)
        assert not EN_DATETIME.search(shown)
        assert not ZH_DATETIME.search(shown)


# The decoded certificate's own words, as certs.details writes them in English: none may show
# in the Chinese page's extensions (the certificate's data, hex and OIDs, stays as it is).
ENGLISH_EXTENSION_WORDS = (
    "Basic constraints",
    "Key usage",
    "Extended key usage",
    "Subject key identifier",
    "Authority key identifier",
    "Path length",
    "Usages",
    "Digital signature",
    "Key encipherment",
    "Purpose",
    "TLS client authentication",
    "Key ID",
    "critical",
    "Yes",
    "No",
    "none",
    "TRUE",
    "FALSE",
)


def _extensions_text(body: str) -> str:
    """The words of the certificate page's Extensions card, tags left out."""
    card = body[body.index('id="extensions-heading"') : body.index('id="checks-heading"')]
    return " ".join(re.sub(r"<[^>]+>", " ", card).split())


@pytest.mark.django_db
def test_the_certificate_pages_extension_rows_are_chinese(dashboard_iot, client_for, viewer):
    client = client_for(viewer)
    english = _extensions_text(page_text(client.get(DEVICE_URL)))
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"

    chinese = _extensions_text(page_text(client.get(DEVICE_URL)))

    # The demo device's certificate: a leaf for TLS clients, with both key identifiers.
    assert "CA No Path length none" in english
    assert "Usages Digital signature, Key encipherment" in english
    assert "Purpose TLS client authentication (1.3.6.1.5.5.7.3.2)" in english
    shown = [
        word for word in ENGLISH_EXTENSION_WORDS if re.search(rf"\b{re.escape(word)}\b", chinese)
    ]
    assert shown == []
    assert "数字签名、密钥加密" in chinese  # the usages, listed as Chinese lists them
    assert "（1.3.6.1.5.5.7.3.2）" in chinese  # the OID stays, in Chinese parentheses


@pytest.mark.django_db
def test_a_certificate_checked_under_a_minute_ago_was_checked_just_now_in_both_languages(
    dashboard_iot, client_for, viewer
):
    client = client_for(viewer)
    client.get(DEVICE_URL)  # asks the platform and fills the inventory

    english = page_text(client.get(DEVICE_URL))  # from the inventory, seconds later
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    chinese = page_text(client.get(DEVICE_URL))

    assert "checked just now" in english
    assert "checked 0 minutes ago" not in english
    assert "刚刚检查" in chinese
    assert "0 分钟前检查" not in chinese


@pytest.mark.django_db
def test_a_certificate_checked_minutes_ago_says_how_many_in_both_languages(
    dashboard_iot, client_for, viewer
):
    client = client_for(viewer)
    client.get(DEVICE_URL)
    CertificateRecord.objects.update(last_checked=timezone.now() - timedelta(minutes=3, seconds=5))

    english = page_text(client.get(DEVICE_URL))
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    chinese = page_text(client.get(DEVICE_URL))

    assert "checked 3 minutes ago" in english
    assert "3 分钟前检查" in chinese


@pytest.mark.django_db
def test_recently_viewed_devices_show_labelled_times_in_chinese(dashboard_iot, client_for, viewer):
    client = client_for(viewer)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    client.get(DEVICE_URL)

    body = page_text(client.get("/"))

    assert "最近查看" in body
    assert LOCAL_TIMESTAMP.search(body)


@pytest.mark.django_db
def test_form_validation_messages_are_chinese(dashboard_iot, client_for, viewer):
    client = client_for(viewer)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"

    # The search form takes part of a DeviceName as a filter: a device URL holds it to the rules.
    response = client.get("/devices/lookup/?product_key=bad!key&device_name=x")
    opened = client.get(f"/devices/{DEMO_PRODUCT_KEY}/x/")

    assert response.status_code == 400
    body = page_text(response)
    assert "ProductKey 由 4–32 个字母和数字组成" in body
    assert "A ProductKey is" not in body
    assert opened.status_code == 400
    assert "DeviceName 长度为 4–32 个字符" in page_text(opened)


@pytest.mark.django_db
def test_device_list_statuses_are_translated(dashboard_iot, client_for, viewer):
    client = client_for(viewer)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"

    body = page_text(client.get(f"/devices/?product_key={DEMO_PRODUCT_KEY}&name=thermo"))

    assert "离线" in body  # thermo-003 is OFFLINE
    assert "OFFLINE" not in body


@pytest.mark.django_db
def test_a_refused_key_release_is_chinese_for_the_user_and_english_in_the_audit_trail(
    dashboard_iot, client_for, make_user
):
    custodian = make_user("Key custodian")
    client = client_for(custodian)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"

    response = client.post(
        f"/devices/{DEMO_PRODUCT_KEY}/sensor-gen/key/",
        {
            "action": "reveal",
            "reason": "Ticket OPS-4711: reprovisioning",
            "password": ROLE_PASSWORD,
        },
    )

    assert response.status_code == 409
    assert "证书尚未就绪，没有可提供的私钥" in page_text(response)
    [event] = AuditEvent.objects.filter(outcome=AuditOutcome.FAILED)
    assert event.detail == "the certificate is not ready, so there is no key to release"


@pytest.mark.django_db
def test_the_key_bundle_form_is_chinese_including_its_formatted_help(
    dashboard_iot, client_for, make_user
):
    client = client_for(make_user("Key custodian"))
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"

    body = page_text(client.get(DEVICE_URL))

    assert f"至少 {PASSPHRASE_MIN_LENGTH} 个字符且难以猜测" in body
    assert "文件的保护密码" in body
    assert "It is never stored" not in body
    del client.cookies[settings.LANGUAGE_COOKIE_NAME]
    english = page_text(client.get(DEVICE_URL))
    assert f"At least {PASSPHRASE_MIN_LENGTH} characters and hard to guess" in english


# --- templates ----------------------------------------------------------------------------------

# Text a template may show untranslated: names, identifiers and symbols.
ALLOWED_WORDS = {"certadmin", "RequestId", "CertSN", "UTC"}
NOT_TEXT = re.compile(
    r"{%\s*blocktranslate.*?{%\s*endblocktranslate\s*%}"  # translated blocks
    r"|{%\s*comment\s*%}.*?{%\s*endcomment\s*%}"  # comments are never shown
    r"|{%\s*partialdef.*?%}|{%.*?%}|{{.*?}}|{#.*?#}"  # template syntax
    r"|<(script|style|pre|code)\b.*?</\1>"  # code shown as it is
    r"|<[^>]*>"  # tags (attributes are checked below)
    r"|&\w+;",  # entities
    re.DOTALL,
)
TEXT_ATTRIBUTES = re.compile(r'\b(?:aria-label|title|placeholder|alt)="([^"{]*)"')


@pytest.mark.parametrize(
    "template", sorted(p.relative_to(TEMPLATES).as_posix() for p in TEMPLATES.rglob("*.html"))
)
def test_templates_show_no_english_outside_translate_tags(template):
    source = (TEMPLATES / template).read_text(encoding="utf-8")
    literal_attributes = [value for value in TEXT_ATTRIBUTES.findall(source) if value.strip()]
    text = NOT_TEXT.sub(" ", source)
    words = set(re.findall(r"[A-Za-z][A-Za-z'-]+", text)) - ALLOWED_WORDS

    assert words == set(), f"untranslated text in {template}"
    assert literal_attributes == [], f"untranslated attribute in {template}"
