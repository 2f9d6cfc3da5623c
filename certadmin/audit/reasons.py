"""The reason a person gives for an audited sensitive action (a key reveal or download, a
redaction): the rule for what counts as one, and the form that asks for it with the password.
The reason is recorded in the audit trail, so the trail owns the rule; the device pages use it.
"""

import unicodedata

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from certadmin.web.form_labels import PlainLabelForm

# A reason must say why: this many different words, in any script. Chinese and Japanese are
# written without spaces, so there each character is a word.
REASON_MIN_WORDS = 3
# After NFKC, accented letters are single characters; a few marks on one letter remain in
# scripts that stack them (Thai vowel and tone, Hebrew points). More is a "Zalgo" flood.
REASON_MAX_MARKS_PER_LETTER = 3
# Line breaks let one reason pass for several rows wherever it is shown or exported.
_LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
# Characters that show as nothing, so the recorded reason reads other than what was typed:
# letters (Lo) that render blank (Hangul fillers, Khmer inherent vowels, the Braille blank),
# the combining grapheme joiner and the variation selectors (Mn). Format characters (Cf: bidi
# controls, zero-width spaces and joiners, tags) are refused by category.
INVISIBLE_CHARACTERS = frozenset(
    "\u115f\u1160\u3164\uffa0\u17b4\u17b5\u2800\u034f\u180b\u180c\u180d\u180f"
) | frozenset(chr(c) for c in (*range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)))
# Chinese characters (with their extensions and compatibility forms) and Japanese kana.
_WORD_PER_CHARACTER = (
    (0x3040, 0x30FF),
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF),
    (0x20000, 0x3FFFF),
)


def _is_word_by_itself(ch: str) -> bool:
    code = ord(ch)
    return any(low <= code <= high for low, high in _WORD_PER_CHARACTER)


def reason_words(value: str) -> list[str]:
    """The words of a reason, casefolded: runs of letters and digits (with their marks) that
    are not one character repeated, and each Chinese or Japanese character on its own."""
    words: list[str] = []
    run: list[str] = []

    def flush() -> None:
        word = "".join(run).casefold()
        run.clear()
        if len({ch for ch in word if unicodedata.category(ch)[0] != "M"}) >= 2:
            words.append(word)

    for ch in value:
        kind = unicodedata.category(ch)[0]
        if _is_word_by_itself(ch):
            flush()
            words.append(ch)
        elif kind in "LN" or (kind == "M" and run):
            run.append(ch)
        else:
            flush()
    flush()
    return words


def _marks_flood(value: str) -> bool:
    marks = letters = stacked = most_stacked = 0
    for ch in value:
        kind = unicodedata.category(ch)[0]
        if kind == "M":
            marks += 1
            stacked += 1
            most_stacked = max(most_stacked, stacked)
        else:
            stacked = 0
            letters += kind in "LN"
    return marks > 0 and (marks > letters or most_stacked > REASON_MAX_MARKS_PER_LETTER)


def reason_problem(value: str) -> str:
    """Why ``value`` (NFKC-normalised) is not a reason to record, or "" when it is one.

    A reason is one line of words: no line breaks or line separators, no control characters,
    nothing invisible (format characters, variation selectors, blank letters), no flood of
    combining marks (more marks than letters, or more than ``REASON_MAX_MARKS_PER_LETTER`` on
    one letter), and at least ``REASON_MIN_WORDS`` different words (``reason_words``), so
    repeated characters or words are not a reason.
    """
    if any(ch in _LINE_BREAKS for ch in value):
        return gettext("Write the reason on one line: remove the line breaks.")
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        return gettext("Remove the control characters (such as tabs) from the reason.")
    if any(unicodedata.category(ch) == "Cf" or ch in INVISIBLE_CHARACTERS for ch in value):
        return gettext(
            "Remove the invisible characters from the reason (direction marks, zero-width "
            "spaces, variation selectors, blank letters)."
        )
    if _marks_flood(value):
        return gettext(
            "Remove the stacked accents (combining marks) from the reason: it must read as "
            "plain text."
        )
    if not any(unicodedata.category(ch)[0] in "LN" for ch in value):
        return gettext("Give a reason in words: it is recorded in the audit trail.")
    if len(set(reason_words(value))) < REASON_MIN_WORDS:
        return gettext(
            "Say why in at least %(count)d different words, not repeated characters or words "
            "(a ticket number and what it is for, for example). In Chinese or Japanese each "
            "character counts as a word."
        ) % {"count": REASON_MIN_WORDS}
    return ""


def clean_reason(value: str) -> str:
    """A reason for a key access, NFKC-normalised and stripped; raises ValidationError with
    ``reason_problem``'s message when it is not one."""
    value = unicodedata.normalize("NFKC", value).strip()
    if problem := reason_problem(value):
        raise forms.ValidationError(problem, code="reason")
    return value


class KeyAccessForm(PlainLabelForm):
    """What every key-bearing action asks for: a reason, and the password when it is stale."""

    reason = forms.CharField(
        label=_("Reason"),
        max_length=500,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "Why you need this key, on one line (ticket number, incident…). It is recorded."
        ),
        error_messages={"required": _("Give a reason: it is recorded in the audit trail.")},
    )
    password = forms.CharField(
        label=_("Your password"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text=_("Confirm it is you: needed when you have not entered it in the last minutes."),
    )

    def clean_reason(self) -> str:
        return clean_reason(self.cleaned_data["reason"])
