"""``cert_sync --wait`` beside a running task worker, without Redis (the demo's setup): the two
processes work one job within one shared quota, and the command stays quiet for cron."""

import subprocess
import sys
import time
from pathlib import Path

import pytest

from certadmin.jobs.models import Job, JobItem, JobState

ROOT = Path(__file__).resolve().parents[2]


def _cert_sync(process_env, product_key: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "cert_sync", "--product-key", product_key, "--wait", *args],
        cwd=ROOT,
        # The demo's logging (INFO), as cron would run it.
        env=process_env(REDIS_URL="", CERTADMIN_LOG_LEVEL="INFO"),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_cert_sync_wait_beside_a_worker_without_redis_never_exceeds_the_quota(
    own_product, emulator_counts, db_worker, process_env, settings
):
    # Eight per second for all jobs: two processes each keeping their own schedule would send
    # up to sixteen, past the platform's ten; together they keep a margin for a loaded
    # machine, where the emulator's arrival times bunch up.
    settings.JOB_QPS = 8
    # 90 lookups: 11 s at the shared pace, under 6 s if each process kept its own schedule.
    product_key = own_product(90)
    db_worker(REDIS_URL="")
    began = time.monotonic()
    result = _cert_sync(process_env, product_key)
    elapsed = time.monotonic() - began
    assert result.returncode == 0, result.stderr
    job = Job.objects.get(product_key=product_key)
    assert job.state == JobState.FINISHED
    assert (job.done, job.failed) == (90, 0)
    assert emulator_counts.throttled == {}
    assert set(emulator_counts.lookups.values()) == {1}
    # Both processes worked the job (a run holds one lease token)...
    assert JobItem.objects.filter(job=job).values("lease_token").distinct().count() >= 2
    # ... within the jobs' share of the quota, together: 90 lookups at 8 per second.
    assert elapsed >= 89 / 8
    assert f"Job {job.pk} finished: 90 devices, 0 failed." in result.stdout


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_cert_sync_wait_is_quiet_unless_asked(own_product, process_env):
    product_key = own_product(10)
    quiet = _cert_sync(process_env, product_key)
    assert quiet.returncode == 0, quiet.stderr
    # No line per call, no progress bar: nothing at all for a cron mail.
    assert quiet.stderr == ""
    assert quiet.stdout.count("\n") == 2  # queued, finished
    assert "finished: 10 devices, 0 failed." in quiet.stdout

    chatty = _cert_sync(process_env, product_key, "-v", "2")
    assert chatty.returncode == 0, chatty.stderr
    assert chatty.stderr.count("QueryDeviceCert") >= 10
    assert "10/10 devices" in chatty.stderr
