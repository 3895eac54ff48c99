from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

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
