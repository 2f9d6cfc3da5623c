"""The demo's notification receiver: the built-in ``demo-inbox`` channel posts (apprise's
json://) to the dashboard itself, which keeps the last messages for the *Demo inbox* page, so
a newcomer sees what a route sent without a chat bot or a mail server. Demo mode only; it
stores only what carries this installation's token (``configuration.demo_inbox_token``)."""

import hmac
import json

from django.conf import settings
from django.utils import timezone

from certadmin.notifications.configuration import demo_inbox_token
from certadmin.notifications.models import DemoInboxMessage

DEMO_INBOX_KEPT = 200
MAX_BODY = 64 * 1024


class DemoInboxRefused(Exception):
    """Not stored: ``status`` is the HTTP answer."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def demo_inbox_store(*, token: str, body: bytes) -> DemoInboxMessage:
    """Keep one posted message (apprise's JSON: title, message, type); older ones beyond
    ``DEMO_INBOX_KEPT`` go. Raises ``DemoInboxRefused``."""
    if not settings.DEMO_MODE:
        raise DemoInboxRefused(404)
    expected = demo_inbox_token(settings.SECRET_KEY)
    if not hmac.compare_digest(token.encode(), expected.encode()):
        raise DemoInboxRefused(403)
    if len(body) > MAX_BODY:
        raise DemoInboxRefused(413)
    try:
        posted = json.loads(body)
        title, text = str(posted.get("title", "")), str(posted.get("message", ""))
        kind = str(posted.get("type", ""))
    except (ValueError, AttributeError):
        raise DemoInboxRefused(400) from None
    message = DemoInboxMessage.objects.create(
        received_at=timezone.now(), title=title[:250], body=text, kind=kind[:16]
    )
    stale = DemoInboxMessage.objects.values_list("pk", flat=True)[DEMO_INBOX_KEPT:]
    DemoInboxMessage.objects.filter(pk__in=list(stale)).delete()
    return message
