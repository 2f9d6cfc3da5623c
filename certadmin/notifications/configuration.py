"""Notification settings read from the environment (settings import this module: no models).

Channels are apprise URLs, and their URLs hold tokens (a DingTalk access token, a WeCom key, an
SMTP password), so they are secrets: ``CERTADMIN_NOTIFY_CHANNEL_<NAME>=<apprise URL>`` names
one channel each. A channel may also be stored in the dashboard, encrypted with
``CERTADMIN_NOTIFY_KEYS`` (Fernet keys, comma-separated, the first encrypts).
"""

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

CHANNEL_PREFIX = "CERTADMIN_NOTIFY_CHANNEL_"
# The apprise services certadmin sends to: a JSON webhook, e-mail, DingTalk, WeCom, Feishu/Lark.
CHANNEL_SCHEMES = frozenset(
    {"json", "jsons", "mailto", "mailtos", "dingtalk", "wecombot", "feishu", "lark"}
)
CHANNEL_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
# The built-in demo channel: the dashboard's own demo inbox (``demo_inbox``), demo mode only.
DEMO_CHANNEL = "demo-inbox"
DEMO_INBOX_PATH = "/notifications/demo-inbox/receive/"
DEMO_INBOX_HEADER = "X-Certadmin-Demo-Inbox"


def channel_scheme(url: str) -> str:
    """The URL's scheme, lowercased ("" when it has none)."""
    return urlsplit(url.strip()).scheme.lower() if "://" in url else ""


def channels_from_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """``CERTADMIN_NOTIFY_CHANNEL_<NAME>`` variables as {name: URL}: the name lowercased, ``_``
    as ``-``. Raises ``ValueError`` naming the variable (never its value) when a name or a
    scheme is not usable."""
    channels = {}
    for variable, value in sorted(environ.items()):
        if not variable.startswith(CHANNEL_PREFIX) or not value.strip():
            continue
        name = variable.removeprefix(CHANNEL_PREFIX).lower().replace("_", "-")
        if not CHANNEL_NAME.match(name):
            raise ValueError(f"{variable}: a channel name is 1-40 letters, digits and _")
        scheme = channel_scheme(value)
        if scheme not in CHANNEL_SCHEMES:
            raise ValueError(
                f"{variable}: not an apprise URL of {', '.join(sorted(CHANNEL_SCHEMES))}"
            )
        channels[name] = value.strip()
    return channels


def demo_inbox_token(secret_key: str) -> str:
    """What the demo channel sends in ``DEMO_INBOX_HEADER``, so the demo inbox stores only what
    this installation's notifier sent."""
    return hmac.new(secret_key.encode(), b"certadmin demo inbox", hashlib.sha256).hexdigest()


def demo_inbox_url(*, base_url: str, secret_key: str) -> str:
    """The demo channel's apprise URL: a JSON POST to the dashboard's own demo inbox."""
    parts = urlsplit(base_url)
    scheme = "jsons" if parts.scheme == "https" else "json"
    token = demo_inbox_token(secret_key)
    return f"{scheme}://{parts.netloc}{DEMO_INBOX_PATH}?+{DEMO_INBOX_HEADER}={token}"


def demo_notify_key(secret_key: str) -> str:
    """The demo's Fernet key for stored channels, derived from the (public) demo secret key."""
    digest = hashlib.sha256(b"certadmin demo notify key:" + secret_key.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()
