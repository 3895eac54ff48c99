from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from django.views.static import serve

from . import health
from .http import too_large


@require_safe
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    states = health.check_all()
    healthy = health.is_healthy(states)
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", **states},
        status=200 if healthy else 503,
    )


@require_safe
def media(request: HttpRequest, path: str) -> HttpResponse:
    """Uploaded images, for mail clients. A reverse proxy in front may serve
    MEDIA_ROOT itself (docs/deployment.md); this view keeps a bare install working."""
    response = serve(request, path, document_root=settings.MEDIA_ROOT)
    response["Cache-Control"] = "public, max-age=604800, immutable"
    return response


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 400, except for a body whose form fields pass CRIER_REQUEST_MAX_MB
    (found only while parsing it, past the size check on Content-Length): 413, saying so."""
    if isinstance(exception, RequestDataTooBig):
        return too_large(request, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    return defaults.bad_request(request, exception)
