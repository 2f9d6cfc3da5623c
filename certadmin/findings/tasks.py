"""The findings' task functions: thin. A run after every finished product sync (that product),
and a daily run of every product, which crontask's scheduler starts (``@cron``)."""

from crontask import cron
from django.conf import settings
from django.tasks import task

from certadmin.findings.runs import findings_run


@task
def findings_product_run(account: str, product_key: str, iot_instance_id: str) -> str:
    """Run the checks over one product's records (queued after its sync finished)."""
    summary = findings_run(
        account=account, product_key=product_key, iot_instance_id=iot_instance_id
    )
    return f"{summary.records} records, {summary.opened} opened, {summary.closed} closed"


@cron(settings.FINDINGS_DAILY_CRON)
@task
def findings_daily_run() -> str:
    """Run the checks over every product of the inventory (and close the findings of products
    gone from it)."""
    summary = findings_run()
    return f"{summary.products} products, {summary.opened} opened, {summary.closed} closed"


def findings_after_sync(
    *, account: str, product_key: str, iot_instance_id: str, job_id: int
) -> None:
    """What jobs call once a product sync has finished: queue that product's run on the
    workers (a sync of a large product is not kept waiting for its checks)."""
    findings_product_run.enqueue(account, product_key, iot_instance_id)
