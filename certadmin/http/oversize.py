"""Request bodies over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` sent to views that must answer them.

Django raises ``RequestDataTooBig`` when the body is first read, which is the CSRF check,
before any view: the view never learns of the attempt, and the user gets a bare 400. A view
that must record such a refusal (a key-bearing action is audited whatever its outcome) names
a handler with ``@oversize_handler``; this middleware, placed before the CSRF check, calls
it instead of the view. The body is never read into memory or kept.
"""

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse

OversizeHandler = Callable[..., HttpResponse]


def oversize_handler(handler: OversizeHandler) -> Callable:
    """Decorate a view (outermost) so an oversize request is answered by ``handler(request,
    *args, **kwargs)`` (a 413 page, after recording the attempt) instead of a bare 400."""

    def decorate(view: Callable) -> Callable:
        view.oversize_handler = handler
        return view

    return decorate


def request_body_too_large(request: HttpRequest) -> bool:
    """Whether the body is over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (declared or as read)."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if limit is None:
        return False
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return True
    try:
        request.POST  # noqa: B018 (reading is the check: Django counts the body as it parses)
    except RequestDataTooBig:
        return True
    return False


class OversizeRequestMiddleware:
    """Hand an oversize request for a view with an ``oversize_handler`` to that handler."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):
        handler = getattr(view_func, "oversize_handler", None)
        if handler is None or request.method != "POST" or not request_body_too_large(request):
            return None
        # Nothing may read this body again, the error pages included.
        request._mark_post_parse_error()
        return handler(request, *view_args, **view_kwargs)
