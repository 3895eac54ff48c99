from django.http import HttpRequest, HttpResponse
from django.urls import path

from newsletter.urls import urlpatterns as project


def ceiling(request: HttpRequest) -> HttpResponse:
    """The least a Django view can do, behind the same middleware as every page."""
    return HttpResponse(b"ok", content_type="text/plain")


urlpatterns = [path("bench/ceiling/", ceiling), *project]
