"""System checks of the devices app's configuration (``manage.py check``)."""

from django.conf import settings
from django.core.checks import CheckMessage, Warning, register

from certadmin.certs.chain_check import CA_BUNDLE_MISSING
from certadmin.devices.platform import ca_bundle


@register()
def ca_bundle_check(app_configs=None, **kwargs) -> list[CheckMessage]:
    """CERTADMIN_CA_BUNDLE, when set, is a readable PEM file holding CA certificates: W101 when
    the path does not exist, W102 when the file cannot serve (a directory, unreadable, empty,
    no certificate in it, corrupt)."""
    path = settings.IOT_CA_BUNDLE
    if not path:
        return []
    bundle = ca_bundle()
    if bundle.problem == CA_BUNDLE_MISSING:
        return [
            Warning(
                f"CA bundle {path} does not exist: certificate chains cannot be verified.",
                hint="Set CERTADMIN_CA_BUNDLE to the PEM file of the CAs that issue device "
                "certificates (the demo writes it when its emulator starts).",
                id="certadmin.W101",
            )
        ]
    if bundle.problem:
        # A warning, not an error: an error would stop runserver and migrate, and everything but
        # chain verification still works.
        return [
            Warning(
                f"CA bundle {path} cannot be used: {bundle.problem}",
                hint="Certificate pages say so and verify no chain until the file is a UTF-8 "
                "PEM file of the CA certificates (CERTIFICATE blocks) the server can read.",
                id="certadmin.W102",
            )
        ]
    return []
