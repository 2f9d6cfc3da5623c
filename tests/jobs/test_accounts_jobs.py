"""A product sync on the second account: its own key, its own inventory and sync record."""

import pytest
from django.core.management import CommandError, call_command

from certadmin.devices.models import CertificateRecord, ProductSync
from certadmin.devices.selectors import product_inventory
from certadmin.emulator.seed import STAGING_PRODUCT_KEY
from certadmin.jobs import runner
from certadmin.jobs.models import Job, JobState
from certadmin.jobs.services import JobStartError, product_sync_start


def test_a_sync_on_the_second_account_fills_that_accounts_inventory(staging_iot, viewer, settings):
    job = product_sync_start(owner=viewer, product_key=STAGING_PRODUCT_KEY, account="staging")
    assert runner.job_work(job_id=job.pk) == "finished"

    assert set(CertificateRecord.objects.values_list("account", flat=True)) == {"staging"}
    assert CertificateRecord.objects.filter(product_key=STAGING_PRODUCT_KEY).count() == 3
    assert ProductSync.objects.get().account == "staging"
    assert product_inventory(product_key=STAGING_PRODUCT_KEY, account="staging").synced
    assert not product_inventory(product_key=STAGING_PRODUCT_KEY).synced
    assert {e.access_key_id for e in staging_iot.request_log} == {
        settings.DEMO_STAGING_ACCESS_KEY_ID
    }


def test_the_first_account_does_not_know_the_second_accounts_product(staging_iot, viewer):
    with pytest.raises(JobStartError) as refused:
        product_sync_start(owner=viewer, product_key=STAGING_PRODUCT_KEY)
    assert refused.value.code == "iot.prod.NotExistedProduct"


def test_cert_sync_account_option_syncs_that_accounts_product(db, staging_iot, settings):
    call_command(
        "cert_sync", "--product-key", STAGING_PRODUCT_KEY, "--account", "staging", "--wait"
    )

    job = Job.objects.get()
    assert (job.account, job.state, job.done) == ("staging", JobState.FINISHED, 3)
    assert {e.access_key_id for e in staging_iot.request_log} == {
        settings.DEMO_STAGING_ACCESS_KEY_ID
    }


def test_cert_sync_of_an_unknown_account_exits_non_zero_without_a_job(db, dashboard_iot):
    with pytest.raises(CommandError, match="No API account 'nosuch'"):
        call_command("cert_sync", "--product-key", STAGING_PRODUCT_KEY, "--account", "nosuch")
    assert not Job.objects.exists()
    assert dashboard_iot.request_log == []
