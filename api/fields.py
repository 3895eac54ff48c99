"""``/api/v1/fields/``: the newsletter's custom fields (``subscribers.fields``), by key.

Deleting one goes through ``audiences.services.field_delete``, which refuses while a
segment names the field."""

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Query, Router, Status

from audiences.services import field_delete
from newsletter.models import Role
from subscribers import fields
from subscribers.models import FieldDefinition

from . import pagination
from .auth import require
from .errors import FieldError, from_django
from .schemas import Error, FieldIn, FieldOut, FieldPage, FieldPatch, Text

router = Router(tags=["fields"])


def _field(request: HttpRequest, key: str) -> FieldDefinition:
    return get_object_or_404(FieldDefinition, newsletter=request.newsletter, key=key)


@router.get("/", response={200: FieldPage, 422: Error}, summary="The newsletter's custom fields")
def list_fields(
    request: HttpRequest,
    cursor: Text | None = None,
    limit: int = Query(pagination.DEFAULT_LIMIT, ge=1, le=pagination.MAX_LIMIT),
):
    items, next_cursor = pagination.page(
        FieldDefinition.objects.filter(newsletter=request.newsletter), cursor, limit
    )
    return {"items": items, "next_cursor": next_cursor}


@router.post("/", response={201: FieldOut, 403: Error, 422: Error}, summary="Define a field")
def create_field(request: HttpRequest, payload: FieldIn):
    """Refused (422 on ``type``) when values already stored under the key do not fit."""
    require(request, Role.EDITOR)
    try:
        field = fields.field_create(newsletter=request.newsletter, **payload.dict())
    except ValidationError as error:
        raise from_django(error, "key") from None
    return Status(201, field)


@router.get("/{key}/", response={200: FieldOut, 404: Error}, summary="One field")
def get_field(request: HttpRequest, key: str):
    return _field(request, key)


@router.patch(
    "/{key}/", response={200: FieldOut, 403: Error, 404: Error, 422: Error}, summary="Change one"
)
def update_field(request: HttpRequest, key: str, payload: FieldPatch):
    """Key and type never change (the stored values and segments rely on them)."""
    require(request, Role.EDITOR)
    field = _field(request, key)
    try:
        return fields.field_update(field=field, **payload.dict(exclude_unset=True))
    except ValidationError as error:
        raise from_django(error, "label") from None


@router.delete(
    "/{key}/", response={204: None, 403: Error, 404: Error, 409: Error}, summary="Forget one"
)
def delete_field(request: HttpRequest, key: str):
    """The values stay in the subscribers' attributes as free keys; refused (409) while
    a segment names the field."""
    require(request, Role.EDITOR)
    try:
        field_delete(field=_field(request, key))
    except ValidationError as error:
        raise FieldError({"key": error.messages}, status=409) from None
    return Status(204, None)
