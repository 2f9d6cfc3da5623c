"""Event details as people read them: stored in English (the chain hashes the stored text, so it
never changes), shown in the active language.

``KNOWN_DETAILS`` is the one table of detail texts certadmin writes. A stored detail is either
one of them, or ``<format>: <one of them>`` (a key bundle's format, then why it failed), or
something else (a file name, a count) that is shown as it is.
"""

from django.utils.translation import gettext, gettext_noop

from certadmin.web.punctuation import label_join

KNOWN_DETAILS = frozenset(
    {
        # The key-access policy (certadmin.devices.key_release.key_access_authorize).
        gettext_noop("no permission to access private keys"),
        gettext_noop("no valid reason given"),
        gettext_noop("re-authentication required"),
        gettext_noop("re-authentication failed"),
        gettext_noop("unusable passphrase"),
        # Releasing a key (certadmin.devices.key_release / downloads).
        gettext_noop("the certificate is not ready, so there is no key to release"),
        gettext_noop("the certificate could not be decoded"),
        gettext_noop("the private key could not be decoded"),
        gettext_noop("the private key does not belong to the certificate"),
        # Finding suppressions (certadmin.findings.suppressions): "<code>: <text>".
        gettext_noop("suppressed"),
        gettext_noop("suppression withdrawn"),
        gettext_noop("expired findings are never suppressed"),
        # Key custody (certadmin.custody): "request <id>: <text>", "hand-over <id>: <text>".
        gettext_noop("two-person approval required"),
        gettext_noop("approved"),
        gettext_noop("refused"),
        gettext_noop("expired"),
        gettext_noop("the requester cannot approve their own request"),
        gettext_noop("no longer waiting for approvals"),
        gettext_noop("not approved, already used or expired"),
        gettext_noop("reviewed"),
        gettext_noop("opened"),
        gettext_noop("used before: possible interception"),
        gettext_noop("made for another person: possible interception"),
        # The trail's own events (certadmin.audit.services).
        gettext_noop("management command"),
        # Key lookups refused for their input (certadmin.audit.key_lookup.REFUSAL_DETAILS).
        gettext_noop("encrypted private key refused"),
        gettext_noop("pasted text too large"),
        gettext_noop("not a certificate or key"),
    }
)


def detail_display(detail: str) -> str:
    """``detail`` in the active language where it is a known text; unchanged otherwise."""
    if detail in KNOWN_DETAILS:
        return gettext(detail)
    prefix, separator, rest = detail.partition(": ")
    if separator and rest in KNOWN_DETAILS:
        return label_join(label=prefix, text=gettext(rest))
    return detail
