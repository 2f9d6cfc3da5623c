"""English texts from outside Django that the device pages show, marked for translation.

``certadmin.certs`` stays free of Django and the platform sends its own English values, so the
templates translate them when they show them (``{% translate ext.name %}``): a text listed here
appears in the catalog; any other text is shown as it is.
"""

from django.utils.translation import gettext_noop

# certs.decode: extension names (the keys of _EXTENSION_NAMES, UNKNOWN_EXTENSION, decode errors).
EXTENSION_NAMES = (
    gettext_noop("Basic constraints"),
    gettext_noop("Key usage"),
    gettext_noop("Extended key usage"),
    gettext_noop("Subject alternative name"),
    gettext_noop("Issuer alternative name"),
    gettext_noop("Subject key identifier"),
    gettext_noop("Authority key identifier"),
    gettext_noop("CRL distribution points"),
    gettext_noop("Freshest CRL"),
    gettext_noop("Authority information access"),
    gettext_noop("Subject information access"),
    gettext_noop("Certificate policies"),
    gettext_noop("Policy constraints"),
    gettext_noop("Policy mappings"),
    gettext_noop("Inhibit any-policy"),
    gettext_noop("Name constraints"),
    gettext_noop("OCSP no check"),
    gettext_noop("TLS feature"),
    gettext_noop("Signed certificate timestamps"),
    gettext_noop("Precertificate poison"),
    gettext_noop("Subject directory attributes"),
    gettext_noop("Private key usage period"),
    gettext_noop("Microsoft certificate template"),
    gettext_noop("Admissions"),
    gettext_noop("Unknown extension"),
    gettext_noop("Extensions could not be decoded"),
)

# certs.decode.check_chain: why a chain is invalid (shown next to the "Invalid" badge).
CHAIN_REASONS = (
    gettext_noop("bad signature: not signed by the CA with that name"),
    gettext_noop("issuer certificate is not a CA"),
    gettext_noop("certificate not yet valid"),
    gettext_noop("certificate expired"),
    gettext_noop("CA certificate not yet valid"),
    gettext_noop("CA certificate expired"),
)

# QueryDevice's DeviceStatus values, as the IoT Platform console names them.
DEVICE_STATUSES = (
    gettext_noop("ONLINE"),
    gettext_noop("OFFLINE"),
    gettext_noop("UNACTIVE"),
    gettext_noop("DISABLE"),
)
