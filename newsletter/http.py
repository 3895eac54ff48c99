from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """The visitor's address; behind a proxy, from the header CLIENT_IP_HEADER names.

    Only the first address of that header counts, as the proxy appends its own.
    """
    header = settings.CLIENT_IP_HEADER
    if header and request.META.get(header):
        return request.META[header].split(",")[0].strip()
    return request.META.get("REMOTE_ADDR", "")


def is_htmx(request: HttpRequest) -> bool:
    """An htmx request wants the page fragment it swaps in, not the whole page."""
    return request.headers.get("HX-Request") == "true"
