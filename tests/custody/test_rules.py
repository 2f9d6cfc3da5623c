"""CERTADMIN_KEY_APPROVALS: how many approvals each account's keys need."""

import pytest

from certadmin.custody.rules import approvals_required, key_approvals_parse

ACCOUNTS = {"default", "staging", "lab"}


def test_unset_means_no_approvals_anywhere():
    rules = key_approvals_parse("", accounts=ACCOUNTS)
    assert rules == {}
    assert approvals_required(rules, account="default") == 0


def test_a_star_covers_every_account_not_named():
    rules = key_approvals_parse("*:1, lab:0, default:2", accounts=ACCOUNTS)
    assert approvals_required(rules, account="default") == 2
    assert approvals_required(rules, account="staging") == 1
    assert approvals_required(rules, account="lab") == 0


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("default", "is not account:count"),
        ("default:two", "is not account:count"),
        ("default:-1", "is not account:count"),
        ("prod:1", "not a configured API account"),
        ("default:1,default:2", "named twice"),
        ("*:9", "at most 5"),
    ],
)
def test_a_wrong_value_is_refused_naming_the_part(text, problem):
    with pytest.raises(ValueError, match=problem):
        key_approvals_parse(text, accounts=ACCOUNTS)
