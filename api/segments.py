"""``/api/v1/segments/``: saved segment rules (``audiences``), and their counts.

``count`` gives the same number the dashboard's builder and the send page show: the
send path's audience query (``delivery.audience``) with the segment compiled in."""

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Query, Router, Status

from audiences import services
from audiences.models import Segment
from audiences.rules import compile_rules
from delivery import audience
from newsletter.models import Newsletter, Role

from . import pagination
from .auth import require
from .errors import FieldError, field_error, from_django
from .schemas import (
    Error,
    RulesIn,
    SegmentCount,
    SegmentIn,
    SegmentOut,
    SegmentPage,
    SegmentPatch,
    Text,
)

router = Router(tags=["segments"])


def segment_by_id(request: HttpRequest, segment_id: int | None) -> Segment | None:
    """The newsletter's segment with this id (None for None); 422 on ``segment`` otherwise."""
    if segment_id is None:
        return None
    segment = Segment.objects.filter(newsletter=request.newsletter, pk=segment_id).first()
    if segment is None:
        raise field_error("segment", f"No segment {segment_id} in this newsletter.")
    return segment


def _segment(request: HttpRequest, segment_id: int) -> Segment:
    return get_object_or_404(Segment, newsletter=request.newsletter, pk=segment_id)


def _count(newsletter: Newsletter, rules: object) -> dict:
    try:
        compiled = compile_rules(rules, newsletter=newsletter, prefix="seg")
        preview = services.segment_preview(newsletter=newsletter, rules=rules)
    except ValidationError as error:
        raise from_django(error, "rules") from None
    mailable = audience.segment_audience_count(newsletter_id=newsletter.pk, segment=compiled)
    return {"matching": preview.matching, "mailable": mailable}


@router.get("/", response={200: SegmentPage, 422: Error}, summary="The newsletter's segments")
def list_segments(
    request: HttpRequest,
    cursor: Text | None = None,
    limit: int = Query(pagination.DEFAULT_LIMIT, ge=1, le=pagination.MAX_LIMIT),
):
    items, next_cursor = pagination.page(
        Segment.objects.filter(newsletter=request.newsletter), cursor, limit
    )
    return {"items": items, "next_cursor": next_cursor}


@router.post("/", response={201: SegmentOut, 403: Error, 422: Error}, summary="Save a segment")
def create_segment(request: HttpRequest, payload: SegmentIn):
    """Rules that do not compile are refused with an error per part (``rules.all[0].op``)."""
    require(request, Role.EDITOR)
    try:
        segment = services.segment_create(newsletter=request.newsletter, **payload.dict())
    except ValidationError as error:
        raise from_django(error, "rules") from None
    return Status(201, segment)


@router.post(
    "/count/",
    response={200: SegmentCount, 422: Error},
    summary="Count what unsaved rules would pick",
)
def count_rules(request: HttpRequest, payload: RulesIn):
    return _count(request.newsletter, payload.rules)


@router.get("/{segment_id}/", response={200: SegmentOut, 404: Error}, summary="One segment")
def get_segment(request: HttpRequest, segment_id: int):
    return _segment(request, segment_id)


@router.get(
    "/{segment_id}/count/",
    response={200: SegmentCount, 404: Error, 422: Error},
    summary="How many people the segment picks, and how many of them can be mailed now",
)
def count_segment(request: HttpRequest, segment_id: int):
    return _count(request.newsletter, _segment(request, segment_id).rules)


@router.patch(
    "/{segment_id}/",
    response={200: SegmentOut, 403: Error, 404: Error, 422: Error},
    summary="Change a segment",
)
def update_segment(request: HttpRequest, segment_id: int, payload: SegmentPatch):
    """Campaigns already sending keep the people they started with."""
    require(request, Role.EDITOR)
    segment = _segment(request, segment_id)
    try:
        return services.segment_update(segment=segment, **payload.dict(exclude_unset=True))
    except ValidationError as error:
        raise from_django(error, "rules") from None


@router.delete(
    "/{segment_id}/",
    response={204: None, 403: Error, 404: Error, 409: Error},
    summary="Delete a segment no campaign uses",
)
def delete_segment(request: HttpRequest, segment_id: int):
    require(request, Role.EDITOR)
    try:
        services.segment_delete(segment=_segment(request, segment_id))
    except ValidationError as error:
        raise FieldError({"segment": error.messages}, status=409) from None
    return Status(204, None)
