"""English texts from outside Django that the device pages show, marked for translation.

``certadmin.certs`` stays free of Django and the platform sends its own English values, so the
templates translate them when they show them (``{% translate ext.name %}``): a text listed here
appears in the catalog; any other text is shown as it is. The extension names, and the words
of the extensions' rows (``Phrase``, shown with ``{{ text|certificate_text }}``), are marked
where they are declared, in ``certadmin.certs.details``.
"""

from django.utils.translation import gettext_noop

from certadmin.iot.results import CertStatus

# certs.chain.check_chain: why a chain is invalid (shown next to the "Invalid" badge).
CHAIN_REASONS = (
    gettext_noop("bad signature: not signed by the CA with that name"),
    gettext_noop("issuer certificate is not a CA"),
    gettext_noop("certificate not yet valid"),
    gettext_noop("certificate expired"),
    gettext_noop("CA certificate not yet valid"),
    gettext_noop("CA certificate expired"),
)

# QueryDevice's DeviceStatus values: the words and the badge colour (app.css ``.badge-<tone>``)
# every device page shows for them. The one mapping: the live list, the inventory table and
# the certificate page all show a status through ``{% device_status_badge %}``.
DEVICE_STATUSES = {
    "ONLINE": (gettext_noop("online"), "ok"),
    "OFFLINE": (gettext_noop("offline"), "neutral"),
    "UNACTIVE": (gettext_noop("not activated"), "info"),
    "DISABLE": (gettext_noop("disabled"), "bad"),
}

# QueryDeviceCert's Status: the words and the badge colour for each. The one wording: the
# certificate page's badge (``{% cert_status_badge %}``), and, for a certificate not issued, the
# device table, the batch results and the inventory CSV (``expiry.expiry_state_label``) say
# whether the platform is still generating it or failed to.
CERT_STATUSES = {
    CertStatus.GENERATING: (gettext_noop("Certificate being generated"), "info"),
    CertStatus.FAILED: (gettext_noop("Certificate generation failed"), "bad"),
    CertStatus.READY: (gettext_noop("Certificate ready"), "ok"),
}
