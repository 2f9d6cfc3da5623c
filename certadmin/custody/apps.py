from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustodyConfig(AppConfig):
    name = "certadmin.custody"
    verbose_name = _("Key custody")

    def ready(self) -> None:
        from certadmin.custody.services import key_custody_rule
        from certadmin.devices.key_release import key_custody_rule_use

        # The device pages sit below this app: their key form asks it whether a key needs
        # approvals first, and shows its request form, break-glass and hand-over links.
        key_custody_rule_use(key_custody_rule)
