from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from .http import too_large
from .views import healthz

HEALTH_PATH = "/healthz"


class HealthCheckMiddleware:
    """Answer ``/healthz`` before anything reads the Host header.

    Probes (compose, Kubernetes, load balancers) call it as ``127.0.0.1``, which
    is rightly not in ALLOWED_HOSTS; answering first keeps that list strict.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == HEALTH_PATH:
            return healthz(request)
        return self.get_response(request)


class RequestSizeLimitMiddleware:
    """Refuse a request body over its limit before anything reads it, with a 413 that
    says the limit: a file upload (multipart) may carry the largest upload Crier
    takes (``CRIER_IMPORT_UPLOAD_MAX_MB``), any other body ``CRIER_REQUEST_MAX_MB``.
    Each upload field then has its own cap (an image, a CSV import).

    Django reads only ``Content-Length`` bytes of a body, so a body sent without it
    (chunked) is never read past the empty length, and needs no check here.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        multipart = request.content_type == "multipart/form-data"
        limit = (
            settings.UPLOAD_REQUEST_MAX_BYTES if multipart else settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        )
        if length > limit:
            return too_large(request, limit)
        return self.get_response(request)
