"""English texts from outside Django that the device pages show, marked for translation.

``certadmin.certs`` stays free of Django and the platform sends its own English values, so the
templates translate them when they show them (``{% translate ext.name %}``): a text listed here
appears in the catalog; any other text is shown as it is. The extension names are marked where
they are declared, in ``certadmin.certs.details``.
"""

from django.utils.translation import gettext_noop

# certs.chain.check_chain: why a chain is invalid (shown next to the "Invalid" badge).
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
