"""Reading routes and the demo inbox: what a person may see."""

from django.db.models import Max, QuerySet

from certadmin.accounts.api_accounts import accounts_for
from certadmin.notifications.models import DemoInboxMessage, Route

DEMO_INBOX_SHOWN = 100


def routes_visible(*, user) -> QuerySet[Route]:
    """The routes of the API accounts ``user`` may use, with when each last sent."""
    names = [account.name for account in accounts_for(user=user)]
    return Route.objects.filter(account__in=names).annotate(last_sent=Max("deliveries__sent_at"))


def route_for(*, user, route_id: int) -> Route | None:
    return routes_visible(user=user).filter(pk=route_id).first()


def demo_inbox_messages() -> list[DemoInboxMessage]:
    return list(DemoInboxMessage.objects.all()[:DEMO_INBOX_SHOWN])
