"""Every action is held to its own quota per account, by the dashboard's own clients
(``iot_client``), over real HTTP against the emulator, which refuses the call past each quota
(``Throttling.User``) and counts the refusals."""

import threading
import time

import pytest

from certadmin.devices.platform import iot_client

PRODUCT = "a1Demo7Sh2x"


def _in_threads(call, *, threads: int, each: int) -> float:
    """Run ``call`` ``each`` times in each of ``threads`` threads at once; the seconds taken."""
    start = threading.Barrier(threads)
    errors: list[Exception] = []

    def work():
        start.wait()
        try:
            for _ in range(each):
                call()
        except Exception as error:
            errors.append(error)

    pool = [threading.Thread(target=work) for _ in range(threads)]
    began = time.monotonic()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=60)
    assert errors == []
    return time.monotonic() - began


@pytest.mark.django_db
def test_people_s_query_device_calls_are_held_to_fifty_per_second(dashboard_iot):
    client = iot_client()
    elapsed = _in_threads(
        lambda: client.query_device(product_key=PRODUCT, page=1, page_size=10), threads=8, each=15
    )
    # 120 calls spaced 1.05 / 50 s apart: never a refusal, never much faster than the quota.
    assert dashboard_iot.throttled == {}
    assert elapsed >= 119 * 0.02


@pytest.mark.django_db
def test_jobs_take_their_share_of_query_device_and_other_quotas_are_not_held_by_it(dashboard_iot):
    job_client = iot_client(purpose="job")
    lookups: list[float] = []

    def person_looks_up_while_the_job_lists():
        time.sleep(0.3)
        began = time.monotonic()
        iot_client().query_device_cert(product_key=PRODUCT, device_name="thermo-001")
        lookups.append(time.monotonic() - began)

    person = threading.Thread(target=person_looks_up_while_the_job_lists)
    person.start()
    elapsed = _in_threads(
        lambda: job_client.query_device(product_key=PRODUCT, page=1, page_size=10),
        threads=4,
        each=10,
    )
    person.join(timeout=10)
    assert dashboard_iot.throttled == {}
    # The jobs' share of QueryDevice is 25 of 50 per second: 40 pages take 1.5 s or more.
    assert elapsed >= 39 / 25
    # QueryDeviceCert has its own schedule: a person's lookup does not queue behind the pages.
    assert lookups
    assert lookups[0] < 0.5
