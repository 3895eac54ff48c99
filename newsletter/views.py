from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from django.views.static import serve

from . import health


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
