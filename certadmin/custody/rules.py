"""How many approvals a key release needs, per API account (``CERTADMIN_KEY_APPROVALS``). No
models here: settings read this module.

The value is a comma-separated list of ``account:count``; ``*`` stands for every account not
named. ``"*:1"`` asks one approval for every key; ``"default:2,staging:1"`` two for the default
account and one for staging; ``"*:1,lab:0"`` one everywhere but lab. Unset (the default): no
approvals, a key custodian releases keys alone, as before.
"""

# More would make a release depend on more people than a team has on call.
MAX_APPROVALS = 5
EVERY_ACCOUNT = "*"


def key_approvals_parse(text: str, *, accounts: set[str]) -> dict[str, int]:
    """``{account or "*": approvals}`` from ``text``; raises ValueError naming the bad part."""
    rules: dict[str, int] = {}
    for part in (piece.strip() for piece in text.split(",")):
        if not part:
            continue
        account, colon, count = part.partition(":")
        account, count = account.strip(), count.strip()
        if not colon or not count.isdigit():
            raise ValueError(f"{part!r} is not account:count (such as default:2 or *:1)")
        if account != EVERY_ACCOUNT and account not in accounts:
            raise ValueError(f"{account!r} is not a configured API account")
        if account in rules:
            raise ValueError(f"{account!r} is named twice")
        if int(count) > MAX_APPROVALS:
            raise ValueError(f"{part!r}: at most {MAX_APPROVALS} approvals")
        rules[account] = int(count)
    return rules


def approvals_required(rules: dict[str, int], *, account: str) -> int:
    """How many approvals a release of a key of ``account`` needs (0: none)."""
    return rules.get(account, rules.get(EVERY_ACCOUNT, 0))
