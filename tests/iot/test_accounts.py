"""Named API accounts from the environment: every good and bad case, secrets never shown."""

import pytest

from certadmin.iot.accounts import AccountsConfigError, IotAccount, accounts_from_environment

SECRET = "very-secret-value-0123456789"
TOKEN = "sts-token-value-abcdef"


def two_accounts(**extra: str) -> dict[str, str]:
    return {
        "CERTADMIN_ACCOUNTS": "prod,staging-2",
        "CERTADMIN_ACCOUNT_PROD_ACCESS_KEY_ID": "LTAIprod",
        "CERTADMIN_ACCOUNT_PROD_ACCESS_KEY_SECRET": SECRET,
        "CERTADMIN_ACCOUNT_PROD_SECURITY_TOKEN": TOKEN,
        "CERTADMIN_ACCOUNT_STAGING_2_ACCESS_KEY_ID": "LTAIstaging",
        "CERTADMIN_ACCOUNT_STAGING_2_ACCESS_KEY_SECRET": SECRET + "2",
        **extra,
    }


def test_two_named_accounts_with_defaults_and_overrides():
    accounts, default = accounts_from_environment(
        two_accounts(
            CERTADMIN_ACCOUNT_STAGING_2_REGION="cn-beijing",
            CERTADMIN_ACCOUNT_STAGING_2_QPS="5",
            CERTADMIN_ACCOUNT_STAGING_2_GROUPS="Testers, Ops",
            CERTADMIN_ACCOUNT_STAGING_2_LABEL="Staging",
            CERTADMIN_ACCOUNT_STAGING_2_INSTANCE_ID="iot-06z00stage",
            CERTADMIN_DEFAULT_ACCOUNT="staging-2",
        )
    )
    assert list(accounts) == ["prod", "staging-2"]
    assert default == "staging-2"
    prod, staging = accounts["prod"], accounts["staging-2"]
    assert prod.endpoint == "https://iot.cn-shanghai.aliyuncs.com"
    assert (prod.qps, prod.job_qps, prod.security_token) == (10, 8, TOKEN)
    assert staging.endpoint == "https://iot.cn-beijing.aliyuncs.com"
    assert (staging.qps, staging.job_qps) == (5, 4)
    assert staging.groups == ("Testers", "Ops")
    assert staging.display_name == "Staging"
    assert staging.instance_id == "iot-06z00stage"


def test_the_single_account_variables_make_the_default_account():
    accounts, default = accounts_from_environment(
        {
            "ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAIone",
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": SECRET,
            "CERTADMIN_IOT_ENDPOINT": "https://iot.example",
            "CERTADMIN_IOT_INSTANCE_ID": "iot-one",
            "CERTADMIN_JOB_QPS": "6",
        }
    )
    assert default == "default"
    assert accounts["default"].endpoint == "https://iot.example"
    assert (accounts["default"].instance_id, accounts["default"].job_qps) == ("iot-one", 6)


def test_no_configuration_is_the_demo():
    demo = {"default": IotAccount(name="default", access_key_id="x", access_key_secret="y")}
    assert accounts_from_environment({}, demo=demo) == (demo, "default")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"CERTADMIN_ACCOUNTS": "Prod"}, "not an account name"),
        ({"CERTADMIN_ACCOUNTS": "a" * 33}, "not an account name"),
        ({"CERTADMIN_ACCOUNTS": "prod,prod"}, "twice"),
        ({"CERTADMIN_ACCOUNTS": " , "}, "at least one"),
        ({"CERTADMIN_ACCOUNT_PROD_ACCESS_KEY_SECRET": ""}, "PROD_ACCESS_KEY_SECRET must be set"),
        ({"CERTADMIN_ACCOUNT_PROD_ACCESS_KEY_ID": ""}, "PROD_ACCESS_KEY_ID must be set"),
        ({"CERTADMIN_ACCOUNT_PROD_QPS": "ten"}, "whole number"),
        ({"CERTADMIN_ACCOUNT_PROD_QPS": "0"}, "1 or more"),
        ({"CERTADMIN_DEFAULT_ACCOUNT": "nope"}, "not a configured account"),
    ],
)
def test_bad_configuration_is_refused_with_a_clear_message(changes, message):
    with pytest.raises(AccountsConfigError) as refused:
        accounts_from_environment(two_accounts(**changes))
    assert message in str(refused.value)
    assert SECRET not in str(refused.value)


def test_a_secret_alone_without_its_key_id_is_refused():
    with pytest.raises(AccountsConfigError, match="ACCESS_KEY_SECRET must be set"):
        accounts_from_environment({"ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAIone"})


def test_secrets_never_appear_in_an_accounts_repr():
    accounts, _default = accounts_from_environment(two_accounts())
    text = repr(accounts)
    assert "LTAIprod" in text
    assert SECRET not in text
    assert TOKEN not in text
