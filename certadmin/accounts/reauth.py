"""Re-authentication: key-bearing actions need a password entered within the last few minutes."""

import time

from django.conf import settings
from django.contrib.auth import authenticate
from django.http import HttpRequest

SESSION_KEY = "certadmin_reauth_at"


def reauth_is_fresh(request: HttpRequest) -> bool:
    """True when this session's user re-entered their password recently enough."""
    confirmed_at = request.session.get(SESSION_KEY)
    if not isinstance(confirmed_at, (int, float)):
        return False
    age = time.time() - confirmed_at
    return 0 <= age <= settings.REAUTH_MAX_AGE_SECONDS


def reauth_confirm(*, request: HttpRequest, password: str) -> bool:
    """Check the signed-in user's password again; on success remember the time in the session.

    Goes through ``authenticate`` so failed attempts count towards the login lockout.
    """
    if not password or not request.user.is_authenticated:
        return False
    user = authenticate(request, username=request.user.get_username(), password=password)
    if user is None or user.pk != request.user.pk:
        return False
    request.session[SESSION_KEY] = time.time()
    return True
