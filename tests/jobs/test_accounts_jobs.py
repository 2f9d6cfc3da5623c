"""A product sync on the second account: its own key, its own inventory and sync record."""

import pytest

from certadmin.devices.models import CertificateRecord
from certadmin.devices.selectors import product_inventory
from certadmin.emulator.seed import STAGING_PRODUCT_KEY
from certadmin.jobs import runner
from certadmin.jobs.models import ProductSync
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
