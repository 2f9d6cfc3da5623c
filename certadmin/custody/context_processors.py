"""The menu's count of what waits for the person in key custody."""

from django.http import HttpRequest

from certadmin.custody.selectors import custody_counts


def custody_waiting(request: HttpRequest) -> dict:
    """``custody``: the counts of ``custody_counts`` and their ``total``, for a signed-in
    person; nothing for anyone else."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    counts = custody_counts(user=user)
    return {"custody": {**counts, "total": sum(counts.values())}}
