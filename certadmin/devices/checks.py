"""System checks of the devices app's configuration (``manage.py check``)."""

from pathlib import Path

from django.conf import settings
from django.core.checks import CheckMessage, Warning, register

from certadmin.devices.platform import ca_bundle


@register()
def ca_bundle_check(app_configs=None, **kwargs) -> list[CheckMessage]:
    """CERTADMIN_CA_BUNDLE, when set, is a readable PEM file of CA certificates."""
    path = settings.IOT_CA_BUNDLE
    if not path:
        return []
    if not Path(path).exists():
        return [
            Warning(
                f"CA bundle {path} does not exist: certificate chains cannot be verified.",
                hint="Set CERTADMIN_CA_BUNDLE to the PEM file of the CAs that issue device "
                "certificates (the demo writes it when its emulator starts).",
                id="certadmin.W101",
            )
        ]
    bundle = ca_bundle()
    if bundle.problem:
        # A warning, not an error: an error would stop runserver and migrate, and everything but
        # chain verification still works.
        return [
            Warning(
                f"CA bundle {path} unreadable: {bundle.problem}",
                hint="Certificate pages show every chain as unverified until the file is a "
                "UTF-8 PEM file of CERTIFICATE blocks.",
                id="certadmin.W102",
            )
        ]
    return []
