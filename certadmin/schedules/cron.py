"""Cron expressions of sync schedules, and the schedules set in configuration
(``CERTADMIN_SYNC_SCHEDULES``). No models here: settings read this module.

A schedule is five crontab fields (minute hour day-of-month month day-of-week) in the
dashboard's time zone (``CERTADMIN_TIME_ZONE``). APScheduler's ``CronTrigger`` computes the
runs. Days of the week must be names (``mon``–``sun``): crontab counts Sunday as 0 and
APScheduler counts Monday as 0, so a number would run on the wrong day (django-crontask refuses
numbers for the same reason).
"""

from dataclasses import dataclass
from datetime import datetime, tzinfo

from apscheduler.triggers.cron import CronTrigger

from certadmin.iot.identity import is_instance_id, is_product_key

# The ways an expression is refused (``CronError.code``): the form says each in words.
CRON_FIELDS = "fields"
CRON_WEEKDAY_NUMBER = "weekday_number"
CRON_INVALID = "invalid"

# Sync modes (certadmin.jobs.models.SyncMode; this module is read by the settings, before models).
SYNC_MODES = ("full", "incremental")
SYNC_MODE_DEFAULT = "full"


class CronError(ValueError):
    """``expression`` is not a schedule: ``code`` says why, ``detail`` is the scheduler's own
    words for an invalid field."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


def cron_trigger(expression: str, *, timezone: tzinfo) -> CronTrigger:
    """The trigger of a five-field crontab expression; raises ``CronError``."""
    fields = expression.split()
    if len(fields) != 5:
        raise CronError(CRON_FIELDS)
    if any(character.isdigit() for character in fields[4]):
        raise CronError(CRON_WEEKDAY_NUMBER)
    try:
        return CronTrigger.from_crontab(" ".join(fields), timezone=timezone)
    except ValueError as error:
        raise CronError(CRON_INVALID, str(error)) from None


def cron_normalised(expression: str) -> str:
    """The expression as stored: its fields separated by one space."""
    return " ".join(expression.split())


def cron_next_run(expression: str, *, after: datetime, timezone: tzinfo) -> datetime | None:
    """The first run strictly after ``after`` (None: the expression never fires again)."""
    trigger = cron_trigger(expression, timezone=timezone)
    return trigger.get_next_fire_time(None, after)


@dataclass(frozen=True)
class ConfiguredSchedule:
    """One entry of ``CERTADMIN_SYNC_SCHEDULES``."""

    account: str
    product_key: str
    iot_instance_id: str
    cron: str
    mode: str


def sync_schedules_parse(
    text: str, *, accounts: dict[str, str], timezone: tzinfo
) -> list[ConfiguredSchedule]:
    """Parse ``CERTADMIN_SYNC_SCHEDULES``: entries separated by ``|`` or new lines, each
    ``account:ProductKey[:IotInstanceId]=cron[;mode]``. ``accounts`` maps each configured
    account name to its default IotInstanceId (used when the entry names none). Raises
    ``ValueError`` naming the entry and what is wrong with it."""
    schedules: dict[tuple[str, str, str], ConfiguredSchedule] = {}
    for raw in text.replace("\n", "|").split("|"):
        entry = raw.strip()
        if not entry:
            continue
        product, equals, rule = entry.partition("=")
        if not equals:
            raise ValueError(f"{entry!r}: write account:ProductKey[:IotInstanceId]=cron[;mode]")
        parts = [part.strip() for part in product.split(":")]
        if len(parts) not in (2, 3):
            raise ValueError(f"{entry!r}: name the product as account:ProductKey[:IotInstanceId]")
        account, product_key = parts[0], parts[1]
        if account not in accounts:
            raise ValueError(
                f"{entry!r}: no API account {account!r} (configured: {', '.join(accounts)})"
            )
        if not is_product_key(product_key):
            raise ValueError(f"{entry!r}: {product_key!r} is not a ProductKey")
        instance = parts[2] if len(parts) == 3 else accounts[account]
        if instance and not is_instance_id(instance):
            raise ValueError(f"{entry!r}: {instance!r} is not an IotInstanceId")
        expression, _semicolon, mode = rule.partition(";")
        mode = mode.strip() or SYNC_MODE_DEFAULT
        if mode not in SYNC_MODES:
            raise ValueError(f"{entry!r}: mode {mode!r} is not one of {', '.join(SYNC_MODES)}")
        try:
            cron_trigger(expression, timezone=timezone)
        except CronError as error:
            raise ValueError(f"{entry!r}: {_cron_error_text(error)}") from None
        key = (account, product_key, instance)
        if key in schedules:
            raise ValueError(f"{entry!r}: the product is scheduled twice")
        schedules[key] = ConfiguredSchedule(
            account=account,
            product_key=product_key,
            iot_instance_id=instance,
            cron=cron_normalised(expression),
            mode=mode,
        )
    return list(schedules.values())


def _cron_error_text(error: CronError) -> str:
    # Settings load before translations can: the configuration's errors are in English.
    if error.code == CRON_FIELDS:
        return "a schedule is five fields: minute hour day-of-month month day-of-week"
    if error.code == CRON_WEEKDAY_NUMBER:
        return "write days of the week as names (mon, tue, … sun), not numbers"
    return f"not a valid schedule ({error.detail})"
