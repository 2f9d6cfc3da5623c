"""The client's address, the one answer for the login lockout and the audit trail alike.

Behind ``CERTADMIN_TRUSTED_PROXIES`` reverse proxies (default 0), each proxy appends the address
it received the request from to ``X-Forwarded-For``, so the client is the entry the outermost
trusted proxy wrote: the N-th from the right. Entries to its left were written by the client and
are never believed. With 0 proxies the header is ignored and ``REMOTE_ADDR`` is the client.
"""

import ipaddress

from django.conf import settings
from django.http import HttpRequest
from django.utils.ipv6 import clean_ipv6_address


def ip_address_normalised(value: str) -> str | None:
    """The address in canonical text form (as the database gives it back); None if not one.

    Accepts the ``1.2.3.4:port`` and ``[v6]:port`` forms some proxies write."""
    value = value.strip()
    if value.startswith("[") and "]" in value:
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:
        value = value.split(":", 1)[0]
    value = value.split("%", 1)[0]  # an IPv6 zone is meaningless off this host
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    return str(address) if address.version == 4 else clean_ipv6_address(value)


def client_address(request: HttpRequest) -> str | None:
    """The address of the client that sent ``request``, normalised, or None if unknown.

    Uses ``X-Forwarded-For`` only through ``settings.TRUSTED_PROXIES`` proxies; this is also
    axes' ``AXES_CLIENT_IP_CALLABLE``. A request that
    carries fewer entries than that did not come through every proxy: its peer is used.
    """
    peer = ip_address_normalised(request.META.get("REMOTE_ADDR", ""))
    proxies = settings.TRUSTED_PROXIES
    if proxies <= 0:
        return peer
    # Several X-Forwarded-For headers arrive joined by commas, in order.
    forwarded = [entry.strip() for entry in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [entry for entry in forwarded if entry]
    if len(forwarded) < proxies:
        return peer
    return ip_address_normalised(forwarded[-proxies]) or peer
