from django.apps import AppConfig


class FindingsConfig(AppConfig):
    name = "certadmin.findings"
    verbose_name = "Findings"

    def ready(self) -> None:
        from certadmin.devices.selectors import device_findings_finder_use
        from certadmin.findings import tasks
        from certadmin.findings.selectors import device_findings_list
        from certadmin.jobs.services import product_sync_finished_observer_use

        # The jobs and the device pages sit below this app: it runs its checks after each
        # finished product sync, and shows a device's findings on its certificate page.
        product_sync_finished_observer_use(tasks.findings_after_sync)
        device_findings_finder_use(device_findings_list)
