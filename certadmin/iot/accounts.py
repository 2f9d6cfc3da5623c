"""Named IoT Platform API accounts, read from the environment.

An account is one AccessKey pair (or STS token) with its endpoint, region, default IotInstanceId
and QueryDeviceCert quota. ``CERTADMIN_ACCOUNTS="prod,staging"`` names them; each one's settings
come from ``CERTADMIN_ACCOUNT_<NAME>_*`` (NAME upper-cased, ``-`` as ``_``). Without
``CERTADMIN_ACCOUNTS`` the single-account variables (``ALIBABA_CLOUD_ACCESS_KEY_ID`` …) make one
account named ``default``.

Pure: reads only the mapping it is given. Nothing secret is ever put into a message or a repr.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_ACCOUNT_NAME = "default"
DEFAULT_REGION = "cn-shanghai"
# QueryDeviceCert's quota per account, and the jobs' share of it when not configured.
DEFAULT_QPS = 10
DEFAULT_JOB_QPS = 8
ACCOUNT_NAME_RE = re.compile(r"^[a-z0-9-]{1,32}$")


class AccountsConfigError(ValueError):
    """The environment's account variables are wrong; the message names the variable at fault
    (settings raise it as Django's ImproperlyConfigured)."""


@dataclass(frozen=True)
class IotAccount:
    """One API account. The secret and the STS token never appear in its repr."""

    name: str
    access_key_id: str
    access_key_secret: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)
    endpoint: str = ""
    region: str = DEFAULT_REGION
    instance_id: str = ""
    qps: int = DEFAULT_QPS
    job_qps: int = DEFAULT_JOB_QPS
    label: str = ""
    # Django group names whose members may use the account; empty: everyone with the role.
    groups: tuple[str, ...] = ()

    @property
    def display_name(self) -> str:
        return self.label or self.name


def default_endpoint(region: str) -> str:
    """The IoT Platform's public endpoint for ``region``."""
    return f"https://iot.{region}.aliyuncs.com"


def account_env_prefix(name: str) -> str:
    """``CERTADMIN_ACCOUNT_<NAME>_``: the variables' prefix for account ``name``."""
    return "CERTADMIN_ACCOUNT_" + name.upper().replace("-", "_") + "_"


def _get(environ: Mapping[str, str], name: str, default: str = "") -> str:
    return (environ.get(name) or default).strip()


def _positive_int(environ: Mapping[str, str], name: str, default: int) -> int:
    text = _get(environ, name)
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise AccountsConfigError(f"{name} must be a whole number (queries per second).") from None
    if value < 1:
        raise AccountsConfigError(f"{name} must be 1 or more.")
    return value


def _job_qps(qps: int, configured: int | None) -> int:
    # The jobs keep at least one query per second free for people opening pages.
    share = configured if configured is not None else DEFAULT_JOB_QPS
    return max(1, min(share, qps - 1)) if qps > 1 else 1


def _names(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise AccountsConfigError("CERTADMIN_ACCOUNTS must name at least one account.")
    seen: set[str] = set()
    for name in names:
        if not ACCOUNT_NAME_RE.fullmatch(name):
            raise AccountsConfigError(
                f"CERTADMIN_ACCOUNTS: {name[:40]!r} is not an account name (lowercase letters, "
                "digits and -, at most 32 characters)."
            )
        if name in seen:
            raise AccountsConfigError(f"CERTADMIN_ACCOUNTS names {name!r} twice.")
        seen.add(name)
    # Two names that differ only by - and _ would read the same variables.
    prefixes = [account_env_prefix(name) for name in names]
    if len(set(prefixes)) != len(prefixes):
        raise AccountsConfigError(
            "CERTADMIN_ACCOUNTS names two accounts whose variables would be the same."
        )
    return names


def _named_account(environ: Mapping[str, str], name: str, job_qps: int | None) -> IotAccount:
    prefix = account_env_prefix(name)
    key_id = _get(environ, prefix + "ACCESS_KEY_ID")
    secret = _get(environ, prefix + "ACCESS_KEY_SECRET")
    if not key_id:
        raise AccountsConfigError(f"{prefix}ACCESS_KEY_ID must be set for account {name!r}.")
    if not secret:
        raise AccountsConfigError(f"{prefix}ACCESS_KEY_SECRET must be set for account {name!r}.")
    region = _get(environ, prefix + "REGION", DEFAULT_REGION)
    qps = _positive_int(environ, prefix + "QPS", DEFAULT_QPS)
    own_job_qps = _positive_int(environ, prefix + "JOB_QPS", 0) or None
    groups = tuple(g.strip() for g in _get(environ, prefix + "GROUPS").split(",") if g.strip())
    return IotAccount(
        name=name,
        access_key_id=key_id,
        access_key_secret=secret,
        security_token=_get(environ, prefix + "SECURITY_TOKEN") or None,
        endpoint=_get(environ, prefix + "ENDPOINT") or default_endpoint(region),
        region=region,
        instance_id=_get(environ, prefix + "INSTANCE_ID"),
        qps=qps,
        job_qps=min(own_job_qps, qps) if own_job_qps else _job_qps(qps, job_qps),
        label=_get(environ, prefix + "LABEL") or name,
        groups=groups,
    )


def accounts_from_environment(
    environ: Mapping[str, str], *, demo: Mapping[str, IotAccount] | None = None
) -> tuple[dict[str, IotAccount], str]:
    """The configured accounts by name, and the default account's name.

    ``demo``: the accounts to use when neither ``CERTADMIN_ACCOUNTS`` nor
    ``ALIBABA_CLOUD_ACCESS_KEY_ID`` is set (the emulator's). Raises ``AccountsConfigError``
    with a message that names the variable at fault (never its value when it is a secret).
    """
    job_qps = _positive_int(environ, "CERTADMIN_JOB_QPS", 0) or None
    listed = _get(environ, "CERTADMIN_ACCOUNTS")
    if listed:
        accounts = {name: _named_account(environ, name, job_qps) for name in _names(listed)}
    elif _get(environ, "ALIBABA_CLOUD_ACCESS_KEY_ID") or not demo:
        key_id = _get(environ, "ALIBABA_CLOUD_ACCESS_KEY_ID")
        secret = _get(environ, "ALIBABA_CLOUD_ACCESS_KEY_SECRET")
        if not key_id:
            raise AccountsConfigError(
                "Set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET, "
                "or CERTADMIN_ACCOUNTS."
            )
        if not secret:
            raise AccountsConfigError(
                "ALIBABA_CLOUD_ACCESS_KEY_SECRET must be set with the AccessKey ID."
            )
        region = _get(environ, "CERTADMIN_IOT_REGION", DEFAULT_REGION)
        accounts = {
            DEFAULT_ACCOUNT_NAME: IotAccount(
                name=DEFAULT_ACCOUNT_NAME,
                access_key_id=key_id,
                access_key_secret=secret,
                security_token=_get(environ, "ALIBABA_CLOUD_SECURITY_TOKEN") or None,
                endpoint=_get(environ, "CERTADMIN_IOT_ENDPOINT") or default_endpoint(region),
                region=region,
                instance_id=_get(environ, "CERTADMIN_IOT_INSTANCE_ID"),
                job_qps=_job_qps(DEFAULT_QPS, job_qps),
                label=DEFAULT_ACCOUNT_NAME,
            )
        }
    else:
        accounts = dict(demo)
    default = _get(environ, "CERTADMIN_DEFAULT_ACCOUNT") or next(iter(accounts))
    if default not in accounts:
        raise AccountsConfigError(
            f"CERTADMIN_DEFAULT_ACCOUNT names {default[:40]!r}, which is not a configured account."
        )
    return accounts, default
