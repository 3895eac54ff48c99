"""The open pixel and the click redirect, answered before the page middleware runs.

A large send is followed by a burst of hits, each a GIF or a redirect that no
session, language, CSRF token, login, flash message, frame option or content
security policy applies to; going through that middleware cost more than the
hit itself (a profile is in docs/benchmarks.md). Placed right after Django's
``SecurityMiddleware``, so the HTTPS redirect and its headers still apply; the
Host header is still checked against ``ALLOWED_HOSTS``. Whatever is not a GET or
HEAD of a pixel or of a valid click goes through the whole stack to the views
(a 404 page in the reader's language, a 405).
"""

import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from . import views

# tracking/urls.py under /t/ (newsletter/urls.py): "o/<str:token>.gif", "c/<str:token>/".
_OPEN = re.compile(r"/t/o/([^/]+)\.gif")
_CLICK = re.compile(r"/t/c/([^/]+)/")


class TrackingMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        if path.startswith("/t/") and request.method in ("GET", "HEAD"):
            request.get_host()  # a Host outside ALLOWED_HOSTS is refused (400) as on any page
            if match := _OPEN.fullmatch(path):
                return views.pixel(request, match[1])
            if (match := _CLICK.fullmatch(path)) and (
                response := views.redirect(request, match[1])
            ):
                return response
        return self.get_response(request)
