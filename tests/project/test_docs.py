"""Every relative link in the README and docs/ points to a file that exists and, with a
``#fragment``, to a heading of that file (GitHub's anchors)."""

import re
from pathlib import Path

import pytest

from certadmin.accounts.demo import DEMO_USERS

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = sorted([ROOT / "README.md", ROOT / "BENCHMARKS.md", *(ROOT / "docs").glob("*.md")])

_FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def _prose(path: Path) -> str:
    """The file's text without fenced code blocks (links and headings there are not real)."""
    return _FENCE.sub("", path.read_text(encoding="utf-8"))


def heading_anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors_of(path: Path) -> set[str]:
    """Every anchor a file's headings make, with GitHub's -1, -2… for repeated headings."""
    seen: dict[str, int] = {}
    anchors = set()
    for heading in _HEADING.findall(_prose(path)):
        anchor = heading_anchor(heading)
        count = seen.get(anchor, 0)
        seen[anchor] = count + 1
        anchors.add(anchor if count == 0 else f"{anchor}-{count}")
    return anchors


def relative_links(path: Path) -> list[str]:
    text = _INLINE_CODE.sub("", _prose(path))
    return [
        target
        for target in _LINK.findall(text)
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE)
    ]


def test_heading_anchors_follow_github():
    assert heading_anchor("Jobs: product sync") == "jobs-product-sync"
    assert heading_anchor("`cert_expiry_report`, for scripts") == "cert_expiry_report-for-scripts"
    assert heading_anchor("V1: HMAC-SHA1 (older SDKs)") == "v1-hmac-sha1-older-sdks"


def test_the_docs_exist_beside_the_readme():
    names = {path.name for path in (ROOT / "docs").glob("*.md")}
    assert {
        "using.md",
        "audit-trail.md",
        "security-model.md",
        "deployment.md",
        "architecture.md",
    } <= names


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(document):
    broken = []
    for target in relative_links(document):
        file_part, _, fragment = target.partition("#")
        linked = (document.parent / file_part).resolve() if file_part else document
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif fragment and (linked.suffix != ".md" or fragment not in anchors_of(linked)):
            broken.append(f"{target}: no heading #{fragment}")
    assert not broken, broken


def test_the_readme_stays_a_short_front_door():
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 150


def test_the_readme_lists_every_demo_user_with_its_password_and_role():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for username, password, role in DEMO_USERS:
        row = f"| `{username}` | `{password}` | {role or 'superuser'} |"
        assert row in readme, row
