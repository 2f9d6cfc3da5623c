"""Templates keep to the strict Content-Security-Policy: no inline script, style or handlers."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = sorted(
    [*(ROOT / "templates").rglob("*.html"), *(ROOT / "certadmin").rglob("templates/**/*.html")]
)

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
STYLE_ATTRIBUTE = re.compile(r"\sstyle\s*=", re.IGNORECASE)
STYLE_ELEMENT = re.compile(r"<style[\s>]", re.IGNORECASE)
HTMX_EVAL = re.compile(r"\bhx-on\b|hx-on:|\bjs:|javascript:", re.IGNORECASE)


def test_there_are_templates_to_check():
    assert len(TEMPLATES) >= 5


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT)))
def test_template_has_no_inline_behaviour_or_looks(path):
    text = path.read_text(encoding="utf-8")
    assert not INLINE_SCRIPT.search(text)
    assert not EVENT_HANDLER.search(text)
    assert not STYLE_ATTRIBUTE.search(text)
    assert not STYLE_ELEMENT.search(text)
    assert not HTMX_EVAL.search(text)


def test_pages_carry_a_strict_content_security_policy(client, viewer):
    client.force_login(viewer)
    response = client.get("/login/")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "style-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
