"""Channels: where messages go, as apprise URLs, and sending one message to one.

A channel URL holds a token (a DingTalk access token, a WeCom key, an SMTP password), so it
never reaches a page, a log line, an error message, an export or the audit trail: the page shows
the scheme and a masked host (``channel_url_masked``); a stored URL is encrypted with Fernet
(``CERTADMIN_NOTIFY_KEYS``); apprise's own logger, which writes the URLs it sends to, is
switched off in settings (``LOGGING``), and a failed send is reported as "failed", never with
apprise's words or an exception's text.
"""

import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

import apprise
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

from certadmin.notifications.configuration import CHANNEL_SCHEMES, channel_scheme
from certadmin.notifications.models import Channel

logger = logging.getLogger(__name__)

# Services whose "host" is the token itself (dingtalk://<token>/): nothing of it is shown.
TOKEN_HOST_SCHEMES = frozenset({"dingtalk", "wecombot", "feishu", "lark"})
MASK = "•••"

SOURCE_ENVIRONMENT = "environment"
SOURCE_DASHBOARD = "dashboard"


class ChannelError(Exception):
    """A channel URL cannot be used or kept: ``code`` says why (never the URL)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


CHANNEL_NO_KEY = "no_key"
CHANNEL_SCHEME = "scheme"
CHANNEL_INVALID = "invalid"
CHANNEL_UNREADABLE = "unreadable"


def _fernet() -> MultiFernet:
    if not settings.NOTIFY_KEYS:
        raise ChannelError(CHANNEL_NO_KEY)
    try:
        return MultiFernet([Fernet(key.encode()) for key in settings.NOTIFY_KEYS])
    except ValueError:
        raise ChannelError(CHANNEL_NO_KEY) from None


def channel_url_encrypt(url: str) -> str:
    """``url`` encrypted with the first key of ``NOTIFY_KEYS``; raises ``ChannelError``."""
    return _fernet().encrypt(url.encode()).decode()


def channel_url_decrypt(token: str) -> str:
    """A stored URL in clear; raises ``ChannelError`` (no key, or none that opens it)."""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ChannelError(CHANNEL_UNREADABLE) from None


def channel_url_check(url: str) -> str:
    """The URL's scheme, when it is an apprise URL of a service certadmin sends to and apprise
    can use it; raises ``ChannelError``."""
    scheme = channel_scheme(url)
    if scheme not in CHANNEL_SCHEMES:
        raise ChannelError(CHANNEL_SCHEME)
    if apprise.Apprise.instantiate(url, asset=_asset()) is None:
        raise ChannelError(CHANNEL_INVALID)
    return scheme


def channel_url_masked(url: str) -> str:
    """What a page may show of a channel URL: its scheme and its host with all but the last
    two labels masked (nothing of a host that is a token, nor user, password, path or
    query)."""
    scheme = channel_scheme(url)
    try:
        host = urlsplit(url.strip()).hostname or ""
    except ValueError:
        host = ""
    labels = host.split(".")
    if scheme in TOKEN_HOST_SCHEMES or len(labels) < 3:
        shown = MASK
    else:
        shown = f"{MASK}.{'.'.join(labels[-2:])}"
    return f"{scheme}://{shown}"


@dataclass(frozen=True)
class ChannelInfo:
    """A channel as a page may show it."""

    name: str
    source: str
    masked: str
    scheme: str
    stored: Channel | None = None

    @property
    def from_environment(self) -> bool:
        return self.source == SOURCE_ENVIRONMENT


def channels_known() -> list[ChannelInfo]:
    """Every channel: those from the environment (which win over a stored one of the same
    name), then those stored in the dashboard, by name."""
    configured = settings.NOTIFY_CHANNEL_SECRETS
    channels = [
        ChannelInfo(name, SOURCE_ENVIRONMENT, channel_url_masked(url), channel_scheme(url))
        for name, url in configured.items()
    ]
    channels += [
        ChannelInfo(c.name, SOURCE_DASHBOARD, f"{c.scheme}://{c.host_masked}", c.scheme, c)
        for c in Channel.objects.exclude(name__in=list(configured))
    ]
    return sorted(channels, key=lambda c: c.name)


def channel_url(name: str) -> str:
    """The channel's URL in clear, for sending only; raises ``ChannelError`` (unknown channel:
    ``CHANNEL_INVALID``)."""
    configured = settings.NOTIFY_CHANNEL_SECRETS.get(name)
    if configured:
        return configured
    stored = Channel.objects.filter(name=name).values_list("url_encrypted", flat=True).first()
    if stored is None:
        raise ChannelError(CHANNEL_INVALID)
    return channel_url_decrypt(stored)


def _asset() -> apprise.AppriseAsset:
    # In memory only: apprise's persistent store would write per-URL files to disk.
    return apprise.AppriseAsset(storage_mode="memory")


def channel_send(*, channel: str, title: str, body: str) -> bool:
    """Send one plain-text message to the channel named ``channel``; whether it took it.

    Logs the outcome with the channel's name only. Nothing apprise says is passed on: its words
    may carry the URL."""
    try:
        url = channel_url(channel)
    except ChannelError as error:
        logger.warning("notification channel %s cannot be used (%s)", channel, error.code)
        return False
    notifier = apprise.Apprise(asset=_asset())
    sent = False
    try:
        if notifier.add(url):
            result = notifier.notify(
                body=body,
                title=title,
                body_format=apprise.NotifyFormat.TEXT,
                timeout=settings.NOTIFY_TIMEOUT_SECONDS,
            )
            sent = bool(result)
    # A plugin's failure is a failed send, not a crash.
    except Exception as error:
        logger.warning("notification to channel %s raised %s", channel, type(error).__name__)
        return False
    if sent:
        logger.info("notification sent to channel %s", channel)
    else:
        logger.warning("notification to channel %s failed", channel)
    return sent
