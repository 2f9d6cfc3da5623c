"""The menu's count of what waits for the person in key custody."""

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from certadmin.custody.selectors import custody_counts


def custody_waiting(request: HttpRequest) -> dict:
    """``custody``: the counts of ``custody_counts`` and their ``total``, for a signed-in
    person; nothing for anyone else. Counted only when a template reads them (the menu does;
    an htmx partial does not)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    def counted() -> dict[str, int]:
        counts = custody_counts(user=user)
        return {**counts, "total": sum(counts.values())}

    return {"custody": SimpleLazyObject(counted)}
