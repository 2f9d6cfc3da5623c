from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "certadmin.jobs"
    verbose_name = "Background jobs"

    def ready(self) -> None:
        from certadmin.devices.selectors import running_sync_finder_use
        from certadmin.jobs import services, tasks
        from certadmin.jobs.selectors import product_sync_running

        # The device pages sit below this app: it tells them which sync of a product is running.
        running_sync_finder_use(product_sync_running)
        # The services queue the task functions that run the runner, which uses the services.
        services.job_tasks_use(
            services.JobTasks(
                work=tasks.job_work,
                watch=tasks.job_watch,
                chain_verification=tasks.chain_verification_work,
            )
        )
