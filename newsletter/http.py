import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _


def client_ip(request: HttpRequest) -> str:
    """The visitor's address, for rate limits, consent evidence and tracking.

    Behind ``CRIER_TRUSTED_PROXIES`` reverse proxies, each appends the address it
    received the request from to ``X-Forwarded-For``; everything to the left of
    what they wrote was written by the client and could be anything. So the
    address is read from the right: ``REMOTE_ADDR`` is the nearest proxy, and the
    entry as many places from the right as there are further proxies is the client.
    With no trusted proxy (the default), the header is ignored. A request that
    came through fewer proxies than configured (straight to the server) gives its
    leftmost address; an entry that is not an IP address gives ``REMOTE_ADDR``.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = settings.TRUSTED_PROXIES
    if proxies <= 0:
        return remote
    header = request.headers.get("X-Forwarded-For", "")
    forwarded = [entry.strip() for entry in header.split(",") if entry.strip()]
    chain = [*forwarded, remote]
    candidate = chain[-(proxies + 1)] if len(chain) > proxies else chain[0]
    return _ip(candidate) or remote


def _ip(entry: str) -> str:
    """The address in an X-Forwarded-For entry ("198.51.100.7", "[2001:db8::1]:443"
    or "198.51.100.7:51234"), or "" when it is none."""
    host = entry
    if entry.startswith("["):
        host = entry[1:].split("]", 1)[0]
    elif entry.count(":") == 1:
        host = entry.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return ""


def is_htmx(request: HttpRequest) -> bool:
    """An htmx request wants the page fragment it swaps in, not the whole page."""
    return request.headers.get("HX-Request") == "true"


def too_large(request: HttpRequest, limit: int) -> HttpResponse:
    """413 naming the limit: JSON in the API's shape under /api/, plain text elsewhere."""
    message = _("The request is too large: at most %(size)s MB.") % {
        "size": f"{limit / settings.MB:g}"
    }
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": message, "errors": {"__all__": [message]}}, status=413)
    return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")
