"""Every answered request: its latency into Prometheus (by view) and one log line."""

import time

from django.http import HttpRequest, HttpResponse

from certadmin.ops.logs import request_log
from certadmin.ops.metrics import request_latency_observe

# Any other method is counted as "other": a client must not create label values at will.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestObservationMiddleware:
    """Place right after django-log-request-id's middleware: it times everything below."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.monotonic()
        response = self.get_response(request)
        duration = time.monotonic() - started
        match = request.resolver_match
        view = (match.view_name or match._func_path) if match else "unresolved"
        user = getattr(request, "user", None)
        user_id = user.pk if user is not None and user.is_authenticated else None
        method = request.method if request.method in KNOWN_METHODS else "other"
        request_latency_observe(
            view=view, method=method, status=response.status_code, seconds=duration
        )
        # request.path never carries the query string.
        request_log(
            method=method,
            path=request.path,
            status=response.status_code,
            duration=duration,
            user_id=user_id,
            view=view,
        )
        return response
