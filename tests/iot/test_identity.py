"""The one definition of a device's identity: the platform's naming rules and DeviceRef."""

import pytest

from certadmin.iot.identity import DeviceRef, is_device_name, is_instance_id, is_product_key


@pytest.mark.parametrize("name", ["abcd", "thermo-001", "a_b.c@d:e", "x" * 32])
def test_device_names_by_the_platforms_rules_are_accepted(name):
    assert is_device_name(name)


@pytest.mark.parametrize("name", ["abc", "x" * 33, "thermo 001", "thermo-001\n", "thermö-001", ""])
def test_other_device_names_are_refused(name):
    assert not is_device_name(name)


def test_product_keys_and_instance_ids_are_checked_loosely():
    assert is_product_key("a1BwAGV1234")
    assert not is_product_key("a1B-wAGV1234")
    assert is_instance_id("iot_instc_pu****_c*-v64********")
    assert not is_instance_id("")


def test_a_device_named_without_an_account_is_on_the_configured_default_account(settings):
    settings.IOT_DEFAULT_ACCOUNT = "prod"
    assert DeviceRef("a1BwAGV1234", "thermo-001").account == "prod"
    assert DeviceRef("a1BwAGV1234", "thermo-001", "", "staging").account == "staging"
