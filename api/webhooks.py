"""``/api/v1/webhooks/``: the newsletter's webhook endpoints (owners only, like the page)."""

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest
from ninja import Router, Status

from newsletter.models import Role
from webhooks import selectors, services
from webhooks.models import Endpoint

from .auth import require
from .errors import from_django
from .schemas import (
    Error,
    WebhookDeliveryOut,
    WebhookEndpointCreated,
    WebhookEndpointIn,
    WebhookEndpointOut,
)

router = Router(tags=["webhooks"])


def _one(request: HttpRequest, endpoint_id: int) -> Endpoint:
    require(request, Role.OWNER)
    endpoint = request.newsletter.webhook_endpoints.filter(pk=endpoint_id).first()
    if endpoint is None:
        raise Http404
    return endpoint


@router.get("/", response={200: list[WebhookEndpointOut], 403: Error}, summary="Endpoints")
def list_endpoints(request: HttpRequest):
    require(request, Role.OWNER)
    return list(selectors.endpoints(newsletter=request.newsletter))


@router.post(
    "/",
    response={201: WebhookEndpointCreated, 403: Error, 422: Error},
    summary="Register an endpoint; the answer holds its signing secret, once",
)
def create_endpoint(request: HttpRequest, payload: WebhookEndpointIn):
    require(request, Role.OWNER)
    try:
        endpoint = services.endpoint_create(newsletter=request.newsletter, **payload.dict())
    except ValidationError as error:
        raise from_django(error, "url") from None
    return Status(201, endpoint)


@router.get("/{endpoint_id}/", response={200: WebhookEndpointOut, 403: Error, 404: Error})
def get_endpoint(request: HttpRequest, endpoint_id: int):
    return _one(request, endpoint_id)


@router.post(
    "/{endpoint_id}/disable/",
    response={200: WebhookEndpointOut, 403: Error, 404: Error},
    summary="Stop sending to an endpoint; what was waiting is given up",
)
def disable_endpoint(request: HttpRequest, endpoint_id: int):
    return services.endpoint_disable(endpoint=_one(request, endpoint_id))


@router.post(
    "/{endpoint_id}/test/",
    response={202: WebhookDeliveryOut, 403: Error, 404: Error, 409: Error},
    summary="Queue a ping event to an endpoint",
)
def test_endpoint(request: HttpRequest, endpoint_id: int):
    endpoint = _one(request, endpoint_id)
    if not endpoint.active:
        return Status(409, {"detail": "This endpoint is disabled."})
    return Status(202, services.send_test(endpoint=endpoint))


@router.get(
    "/{endpoint_id}/deliveries/",
    response={200: list[WebhookDeliveryOut], 403: Error, 404: Error},
    summary="The endpoint's recent deliveries, newest first",
)
def list_deliveries(request: HttpRequest, endpoint_id: int):
    return selectors.recent_deliveries(
        newsletter=request.newsletter, endpoint=_one(request, endpoint_id)
    )
