"""``{{ text|certificate_text }}``: a decoded certificate's label or value in the reader's language.

``certadmin.certs`` stays free of Django: it gives the words of its decoded view as
``Phrase``s of English texts marked for the catalog, and the certificate's own text (names,
OIDs, hex) as plain strings. Here the words are translated and joined as the language lists
them; plain text is shown as it is.
"""

from django import template
from django.utils.translation import gettext, pgettext

from certadmin.certs.details import Phrase, Text

register = template.Library()


@register.filter
def certificate_text(text: Text) -> str:
    """``Phrase(("Certificate sign", "CRL sign"))`` → ``证书签名、CRL 签名``; a string as it is."""
    if not isinstance(text, Phrase):
        return text
    words = pgettext("list separator", ", ").join(gettext(word) for word in text.words)
    if not text.detail:
        return words
    return gettext("%(text)s (%(detail)s)") % {
        "text": words,
        "detail": certificate_text(text.detail),
    }
