"""``/api/v1/lists/``: the newsletter's mailing lists, a list's CSV export, and archiving
or deleting one (through ``subscribers.services``: consent records are never lost)."""

from django.core.exceptions import ValidationError
from django.http import HttpRequest, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from ninja import Query, Router, Status

from newsletter.access import EXPORT_ROLE
from newsletter.models import Role
from subscribers import services
from subscribers.exporting import export_list
from subscribers.models import MailingList

from . import pagination
from .auth import require
from .errors import FieldError, field_error, from_django
from .schemas import Error, ListIn, ListOut, ListPage, Text

router = Router(tags=["lists"])


def lists_by_slug(request: HttpRequest, slugs: list[str]) -> list[MailingList]:
    """The newsletter's lists with these slugs, in order, once each; 422 names unknown ones."""
    found = {
        mailing_list.slug: mailing_list
        for mailing_list in MailingList.objects.filter(
            newsletter=request.newsletter, slug__in=slugs
        )
    }
    unknown = [slug for slug in slugs if slug not in found]
    if unknown:
        raise field_error("lists", f"No such list in this newsletter: {', '.join(unknown)}.")
    return [found[slug] for slug in dict.fromkeys(slugs)]


@router.get("/", response={200: ListPage, 422: Error}, summary="The newsletter's lists")
def list_lists(
    request: HttpRequest,
    cursor: Text | None = None,
    limit: int = Query(pagination.DEFAULT_LIMIT, ge=1, le=pagination.MAX_LIMIT),
):
    items, next_cursor = pagination.page(
        MailingList.objects.filter(newsletter=request.newsletter), cursor, limit
    )
    return {"items": items, "next_cursor": next_cursor}


@router.post("/", response={201: ListOut, 403: Error, 422: Error}, summary="Create a list")
def create_list(request: HttpRequest, payload: ListIn):
    require(request, Role.EDITOR)
    try:
        mailing_list = services.list_create(newsletter=request.newsletter, **payload.dict())
    except ValidationError as error:
        raise from_django(error, "slug") from None
    return Status(201, mailing_list)


@router.get(
    "/{slug}/export.csv",
    response={200: str, 403: Error, 404: Error},
    summary="The list's subscribers as CSV (streamed, formula-safe; editors and owners)",
    openapi_extra={"responses": {200: {"content": {"text/csv": {"schema": {"type": "string"}}}}}},
)
def export(request: HttpRequest, slug: Text):
    require(request, EXPORT_ROLE)
    mailing_list = get_object_or_404(MailingList, newsletter=request.newsletter, slug=slug)
    response = StreamingHttpResponse(export_list(mailing_list), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{mailing_list.slug}.csv"'
    return response


def _list(request: HttpRequest, slug: str) -> MailingList:
    return get_object_or_404(MailingList, newsletter=request.newsletter, slug=slug)


@router.post(
    "/{slug}/archive/",
    response={200: ListOut, 403: Error, 404: Error},
    summary="Stop offering and sending to a list, keeping its people and consent records",
)
def archive_list(request: HttpRequest, slug: Text):
    require(request, Role.EDITOR)
    return services.list_archive(mailing_list=_list(request, slug))


@router.post(
    "/{slug}/unarchive/",
    response={200: ListOut, 403: Error, 404: Error},
    summary="Use an archived list again",
)
def unarchive_list(request: HttpRequest, slug: Text):
    require(request, Role.EDITOR)
    return services.list_unarchive(mailing_list=_list(request, slug))


@router.delete(
    "/{slug}/",
    response={204: None, 403: Error, 404: Error, 409: Error},
    summary="Delete a list that never held anyone (else 409: archive it)",
)
def delete_list(request: HttpRequest, slug: Text):
    """Refused while consent records, subscriptions, imports or campaigns refer to it."""
    require(request, Role.EDITOR)
    try:
        services.list_delete(mailing_list=_list(request, slug))
    except ValidationError as error:
        raise FieldError({"list": error.messages}, status=409) from None
    return Status(204, None)
