from django.db.models import QuerySet

from newsletter.models import Newsletter

from .models import Endpoint, WebhookDelivery

RECENT_DELIVERIES = 50


def endpoints(*, newsletter: Newsletter) -> QuerySet[Endpoint]:
    return newsletter.webhook_endpoints.order_by("-active", "-created_at")


def recent_deliveries(
    *, newsletter: Newsletter, endpoint: Endpoint | None = None
) -> list[WebhookDelivery]:
    deliveries = WebhookDelivery.objects.filter(endpoint__newsletter=newsletter)
    if endpoint is not None:
        deliveries = deliveries.filter(endpoint=endpoint)
    return list(
        deliveries.select_related("endpoint")
        .defer("payload")
        .order_by("-created_at", "-id")[:RECENT_DELIVERIES]
    )
