"""After a product sync finishes, through the real job runner against the emulator, the
product's findings run is queued, and running it records the product's findings."""

import pytest
from django.utils.module_loading import import_string
from django_tasks_db.models import DBTaskResult

from certadmin.findings.models import Finding
from certadmin.jobs import runner
from certadmin.jobs.services import product_sync_start

pytestmark = pytest.mark.django_db


def test_a_finished_sync_queues_the_product_run_and_a_worker_records_findings(
    viewer, dashboard_iot, django_capture_on_commit_callbacks, settings
):
    product_key = "a1Synced0001"
    for number in range(3):
        dashboard_iot.add_device(
            {"product_key": product_key, "device_name": f"sync-{number}", "key_type": "ec"}
        )
    dashboard_iot.add_device(
        {"product_key": product_key, "device_name": "sync-broken", "status": 1}
    )
    job = product_sync_start(owner=viewer, product_key=product_key)
    with django_capture_on_commit_callbacks(execute=True):
        assert runner.job_work(job_id=job.pk) == "finished"
    queued = DBTaskResult.objects.filter(task_path__endswith="findings_product_run")
    assert queued.count() == 1
    assert queued.get().args_kwargs["args"] == ["default", product_key, ""]
    assert not Finding.objects.exists()

    # The queued task, as a worker runs it: its function found by the queued path, with the
    # queued arguments (a worker process could not share this test's transaction).
    task = queued.get()
    import_string(task.task_path).call(*task.args_kwargs["args"], **task.args_kwargs["kwargs"])
    findings = Finding.objects.filter(product_key=product_key, closed_at__isnull=True)
    assert set(findings.values_list("device_name", "code")) >= {
        ("sync-broken", "cert.generation_failed")
    }
    # The emulator's certificates chain to its CA, the configured bundle.
    assert not findings.filter(code="chain.untrusted").exists()
