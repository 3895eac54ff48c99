"""``/api/v1/feeds/``: the feeds a newsletter follows. Thin: each endpoint calls the
service the dashboard calls (same fetch, same checks, same runs); ``api.urls`` mounts
the router. Like the page, viewers read and editors change."""

from datetime import datetime
from typing import Annotated

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Router, Schema, Status
from pydantic import AfterValidator, StringConstraints

from api.auth import require
from api.errors import FieldError, field_error, from_django
from api.lists import lists_by_slug
from api.schemas import Error, Slug, Text, single_line
from audiences.models import Segment
from campaigns.models import Layout
from newsletter.models import Role

from . import selectors, services
from .fetching import FeedError
from .models import DEFAULT_ITEM_TEMPLATE, DEFAULT_SUBJECT, Feed, FeedAction, FeedSchedule

router = Router(tags=["feeds"])

Name = Annotated[Text, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Address = Annotated[Text, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
Subject = Annotated[
    Text, StringConstraints(min_length=1, max_length=250), AfterValidator(single_line)
]
ItemCount = Annotated[int, Field(ge=1, le=services.MAX_ITEMS)]


class FeedOut(Schema):
    id: int
    name: str
    url: str
    title: str = Field(description="The feed's own title, as it last said it.")
    lists: list[str] = Field(description="Slugs of the lists its issues go to.")
    template: str = Field(description="The name of its issues' layout.")
    segment: int | None = Field(
        description="The id of the segment that narrows its lists, or null."
    )
    action: FeedAction = Field(description="draft: compose a draft; send: send each issue.")
    schedule: FeedSchedule
    subject: str
    intro: str
    item_template: str
    max_items: int
    public: bool
    active: bool
    next_run_at: datetime
    last_run_at: datetime | None
    last_error: str = Field(description="Why the last run made no issue, or kept it a draft.")
    created_at: datetime

    @staticmethod
    def resolve_lists(feed: Feed) -> list[str]:
        return [mailing_list.slug for mailing_list in feed.lists.all()]

    @staticmethod
    def resolve_template(feed: Feed) -> str:
        return feed.layout.name

    @staticmethod
    def resolve_segment(feed: Feed) -> int | None:
        return feed.segment_id


class FeedIn(Schema):
    name: Name
    url: Address = Field(description="An RSS or Atom feed; fetched now, refused if not a feed.")
    lists: list[Slug] = Field(default_factory=list)
    template: Text | None = Field(None, description="A layout's name; the first one if omitted.")
    segment: int | None = Field(None, description="A segment's id: narrows its lists.")
    action: FeedAction = FeedAction.DRAFT
    schedule: FeedSchedule = FeedSchedule.DAILY
    subject: Subject = DEFAULT_SUBJECT
    intro: Text = ""
    item_template: Text = DEFAULT_ITEM_TEMPLATE
    max_items: ItemCount = 10
    public: bool = True
    active: bool = True


class FeedPatch(Schema):
    name: Name | None = None
    url: Address | None = None
    lists: list[Slug] | None = None
    template: Text | None = None
    segment: int | None = Field(None, description="A segment's id; null: its whole lists.")
    action: FeedAction | None = None
    schedule: FeedSchedule | None = None
    subject: Subject | None = None
    intro: Text | None = None
    item_template: Text | None = None
    max_items: ItemCount | None = None
    public: bool | None = None
    active: bool | None = None


class ItemOut(Schema):
    title: str
    url: str
    summary: str
    published: datetime | None


class CheckOut(Schema):
    title: str
    items: list[ItemOut] = Field(description="What the next issue would carry, newest first.")
    skipped: int = Field(description="New items older than the newest max_items, left out.")
    seen: int = Field(description="Items of the feed already in an issue.")
    subject: str


class RunOut(Schema):
    campaign: int | None = Field(description="The issue made, or null when nothing was new.")
    detail: str


def _feed(request: HttpRequest, feed_id: int) -> Feed:
    return get_object_or_404(selectors.feeds_of(request.newsletter), pk=feed_id)


def _layout(request: HttpRequest, name: str | None) -> Layout:
    layouts = Layout.objects.filter(newsletter=request.newsletter).order_by("pk")
    found = layouts.filter(name=name).first() if name is not None else layouts.first()
    if found is None:
        raise field_error("template", f"No layout is called “{name}”." if name else "No layout.")
    return found


def _fields(request: HttpRequest, values: dict) -> dict:
    if "lists" in values:
        values["lists"] = lists_by_slug(request, values["lists"] or [])
    if "template" in values:
        values["layout"] = _layout(request, values.pop("template"))
    if values.get("segment") is not None:
        values["segment"] = _segment(request, values["segment"])
    return values


def _segment(request: HttpRequest, segment_id: int) -> Segment:
    found = Segment.objects.filter(newsletter=request.newsletter, pk=segment_id).first()
    if found is None:
        raise field_error("segment", "No such segment in this newsletter.")
    return found


def _invalid(error: ValidationError) -> FieldError:
    if hasattr(error, "error_dict") and "layout" in error.error_dict:
        error.error_dict["template"] = error.error_dict.pop("layout")
    return from_django(error, "url")


@router.get("/", response={200: list[FeedOut]}, summary="The feeds the newsletter follows")
def list_feeds(request: HttpRequest):
    return list(selectors.feeds_of(request.newsletter).prefetch_related("lists"))


@router.post(
    "/",
    response={201: FeedOut, 403: Error, 422: Error},
    summary="Follow a feed (fetched now: refused if not a feed, too large, too slow or private)",
)
def create_feed(request: HttpRequest, payload: FeedIn):
    require(request, Role.EDITOR)
    values = _fields(request, payload.dict())
    try:
        feed = services.feed_create(
            newsletter=request.newsletter, created_by=request.api_token.user, **values
        )
    except ValidationError as error:
        raise _invalid(error) from None
    return Status(201, feed)


@router.get("/{feed_id}/", response={200: FeedOut, 404: Error}, summary="One feed")
def get_feed(request: HttpRequest, feed_id: int):
    return _feed(request, feed_id)


@router.patch(
    "/{feed_id}/",
    response={200: FeedOut, 403: Error, 404: Error, 422: Error},
    summary="Change a feed (its address is fetched again)",
)
def update_feed(request: HttpRequest, feed_id: int, payload: FeedPatch):
    require(request, Role.EDITOR)
    feed = _feed(request, feed_id)
    # Only a segment can be set to null (back to the whole lists); other nulls are "unchanged".
    changes = {
        name: value
        for name, value in payload.dict(exclude_unset=True).items()
        if value is not None or name == "segment"
    }
    try:
        services.feed_update(feed=feed, **_fields(request, changes))
    except ValidationError as error:
        raise _invalid(error) from None
    return _feed(request, feed_id)


@router.delete(
    "/{feed_id}/",
    response={204: None, 403: Error, 404: Error},
    summary="Stop following a feed; its issues stay",
)
def delete_feed(request: HttpRequest, feed_id: int):
    require(request, Role.EDITOR)
    services.feed_delete(feed=_feed(request, feed_id))
    return Status(204, None)


@router.post(
    "/{feed_id}/check/",
    response={200: CheckOut, 403: Error, 404: Error, 422: Error},
    summary="Fetch the feed now and tell what its next issue would hold; nothing is marked",
)
def check_feed(request: HttpRequest, feed_id: int):
    require(request, Role.EDITOR)
    try:
        return services.feed_check(feed=_feed(request, feed_id))
    except FeedError as error:
        raise field_error("url", str(error)) from None


@router.post(
    "/{feed_id}/run/",
    response={200: RunOut, 403: Error, 404: Error},
    summary="Make the next issue now (a draft, or sent, as the feed says)",
)
def run_feed(request: HttpRequest, feed_id: int):
    require(request, Role.EDITOR)
    feed = _feed(request, feed_id)
    issue = services.feed_run(feed_id=feed.pk, force=True)
    feed.refresh_from_db()
    detail = feed.last_error or ("" if issue else "Nothing new since the last issue.")
    return {"campaign": issue.pk if issue else None, "detail": detail}
