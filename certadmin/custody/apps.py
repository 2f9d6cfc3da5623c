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

        from django.db import transaction
        from django.db.models.signals import post_delete, post_save

        from certadmin.custody.selectors import custody_counts_forget

        # The menu's counts are cached per person: any saved or deleted custody row reads them
        # again (the services' conditional updates call custody_counts_forget themselves).
        def forget(**_kwargs) -> None:
            transaction.on_commit(custody_counts_forget)

        for model in self.get_models():
            post_save.connect(forget, sender=model, weak=False, dispatch_uid=f"counts-{model}")
            post_delete.connect(forget, sender=model, weak=False, dispatch_uid=f"del-{model}")
