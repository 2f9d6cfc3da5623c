"""Chinese pages use Chinese punctuation: no ASCII comma, colon, full stop or parenthesis beside
Chinese text, whether it comes from the catalog or from a template or code that joins
translated pieces."""

import html
import re

import pytest
from django.conf import settings

from certadmin.emulator import DEMO_PRODUCT_KEY
from tests.support.pages import page_text

HAN = r"[\u4e00-\u9fff]"
# ASCII punctuation touching a Chinese character on either side (a space between counts too),
# or a sentence's ASCII comma, colon or semicolon (one followed by a space: "RSA, 2048 位") in
# a text that has Chinese in it. Technical text has none of these: "C=CN,O=…", "13:49:00",
# "UTC+08:00".
MIXED = re.compile(
    rf"{HAN}\s*[,;:!?]|{HAN}\.(?=\s|$)|[,;:!?]\s*{HAN}|\(\s*{HAN}|{HAN}\s*\)|{HAN}\s+\(|\)\s+{HAN}"
)
SENTENCE_PUNCTUATION = re.compile(r"[,;:](?=\s)")
SCRIPT_OR_STYLE = re.compile(r"<(script|style)\b.*?</\1>", re.DOTALL | re.IGNORECASE)
TAG = re.compile(r"<[^>]+>")


def visible_texts(body: str) -> list[str]:
    """The page's text as a reader sees it: one string per run of text between tags' blocks."""
    body = SCRIPT_OR_STYLE.sub(" ", body)
    # Inline markup (code, strong, a, span, time) joins the text around it, as the eye does.
    body = re.sub(r"</?(code|strong|em|a|span|time|abbr|kbd|b|i)\b[^>]*>", "", body)
    return [html.unescape(t).strip() for t in TAG.split(body) if t.strip()]


def mixed_punctuation(body: str) -> list[str]:
    return [
        text
        for text in visible_texts(body)
        if MIXED.search(text) or (re.search(HAN, text) and SENTENCE_PUNCTUATION.search(text))
    ]


PAGES = [
    "/",
    f"/devices/{DEMO_PRODUCT_KEY}/thermo-001/",
    f"/devices/{DEMO_PRODUCT_KEY}/no-such-device-1/",
    f"/devices/?product_key={DEMO_PRODUCT_KEY}",
    f"/devices/?product_key={DEMO_PRODUCT_KEY}&q=thermo",
    "/expiry/",
    "/jobs/",
    "/jobs/new/",
    f"/devices/{DEMO_PRODUCT_KEY}/thermo-001/key/",
]


@pytest.mark.django_db
@pytest.mark.parametrize("url", PAGES)
def test_chinese_pages_use_chinese_punctuation(dashboard_iot, client_for, custodian, url):
    client = client_for(custodian)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"

    response = client.get(url, follow=True)

    assert mixed_punctuation(page_text(response)) == []


@pytest.mark.django_db
def test_the_audit_trail_in_chinese_uses_chinese_punctuation(dashboard_iot, client_for, auditor):
    client = client_for(auditor)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"

    assert mixed_punctuation(page_text(client.get("/audit/"))) == []


@pytest.mark.django_db
def test_a_refused_batch_in_chinese_uses_chinese_punctuation(dashboard_iot, client_for, viewer):
    client = client_for(viewer)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    rows = f"{DEMO_PRODUCT_KEY},thermo-001\n{DEMO_PRODUCT_KEY},bad name!\nnot-a-key,x\n"

    response = client.post("/jobs/batch/", {"text": rows})

    assert response.status_code == 400
    body = page_text(response)
    assert mixed_punctuation(body) == []
