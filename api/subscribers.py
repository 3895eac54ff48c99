"""``/api/v1/subscribers/``: read, subscribe, change and erase people in this newsletter.

Every write goes through ``subscribers.services``, which records it in the consent
ledger; endpoints only translate HTTP to those calls and back.
"""

from datetime import UTC, datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema, Status

from audiences.rules import matching
from newsletter.models import Role
from subscribers import personal_data, selectors, services
from subscribers.models import ConsentSource, SubscriberStatus, SubscriptionStatus
from subscribers.tokens import Claim

from . import pagination
from .auth import actor, require
from .errors import field_error, from_django
from .lists import lists_by_slug
from .schemas import (
    Accepted,
    Error,
    SubscriberIn,
    SubscriberOut,
    SubscriberPage,
    SubscriberPatch,
    Text,
)
from .segments import segment_by_id

router = Router(tags=["subscribers"])


class Filters(Schema):
    email: Text | None = None
    list_slug: Text | None = Field(None, alias="list")
    status: SubscriberStatus | None = None
    subscription_status: SubscriptionStatus | None = None
    segment: int | None = None
    attribute: list[Text] = []
    created_after: datetime | None = None
    created_before: datetime | None = None
    cursor: Text | None = None
    limit: int = pagination.DEFAULT_LIMIT


def _present(subscriber) -> dict:
    return {
        "id": subscriber.pk,
        "email": subscriber.email,
        "name": subscriber.name,
        "status": subscriber.status,
        "attributes": subscriber.attributes,
        "tracking": subscriber.tracking_choice,
        "mail_format": subscriber.mail_format,
        "paused_until": subscriber.paused_until,
        "paused_indefinitely": subscriber.paused_indefinitely,
        "time_zone": subscriber.time_zone,
        "created_at": subscriber.created_at,
        "lists": [
            {
                "slug": subscription.mailing_list.slug,
                "name": subscription.mailing_list.name,
                "status": subscription.status,
                "frequency": subscription.frequency,
                "subscribed_at": subscription.created_at,
                "confirmed_at": subscription.confirmed_at,
                "unsubscribed_at": subscription.unsubscribed_at,
            }
            for subscription in subscriber.subscriptions.all()
        ],
    }


def _attributes(pairs: list[str]) -> dict[str, str]:
    attributes = {}
    for pair in pairs:
        key, separator, value = pair.partition(":")
        if not separator or not key:
            raise field_error("attribute", "Use key:value, for example attribute=city:Lyon.")
        attributes[key] = value
    return attributes


def _utc(field: str, value: datetime | None) -> datetime | None:
    """An aware UTC datetime (naive means UTC); PostgreSQL refuses offsets beyond ±15:59."""
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise field_error(field, "Out of range.") from None


def _segment_contacts(request: HttpRequest, segment_id: int | None):
    """The contacts the newsletter's segment picks, by the rules compiled as the send path
    and the dashboard's filter compile them; 422 on ``segment`` for another newsletter's
    or an unknown segment, or one broken since it was saved (naming why)."""
    segment = segment_by_id(request, segment_id)
    if segment is None:
        return None
    try:
        return matching(segment.rules, newsletter=request.newsletter)
    except ValidationError as error:
        raise field_error(
            "segment", f"This segment cannot be used now: {' '.join(error.messages)}"
        ) from None


def _one(request: HttpRequest, subscriber_id: int):
    """The token's newsletter's contact, or 404: another newsletter's contact is not
    found here, and an erased one is gone."""
    subscriber = selectors.contact_of(request.newsletter, subscriber_id)
    if subscriber is None or subscriber.status == SubscriberStatus.ERASED:
        raise Http404
    return subscriber


@router.get("/", response={200: SubscriberPage, 404: Error, 422: Error}, summary="Find subscribers")
def list_subscribers(request: HttpRequest, filters: Query[Filters]):
    """Filter by address, list, status, saved segment (``segment=<id>``: the contacts its
    rules pick, whatever their consent), attributes (``attribute=key:value``, repeatable)
    and creation date; pages of ``limit`` by ``cursor`` (``next_cursor`` of the last page)."""
    if not 1 <= filters.limit <= pagination.MAX_LIMIT:
        raise field_error("limit", f"Between 1 and {pagination.MAX_LIMIT}.")
    mailing_list = None
    if filters.list_slug:
        mailing_list = lists_by_slug(request, [filters.list_slug])[0]
    email = None
    if filters.email:
        try:
            email = services.normalize_email(filters.email)
        except ValidationError as error:
            raise from_django(error, "email") from None
    queryset = selectors.subscribers_of(
        request.newsletter,
        mailing_list=mailing_list,
        subscription_status=filters.subscription_status,
        status=filters.status,
        attributes=_attributes(filters.attribute),
        email=email,
        created_after=_utc("created_after", filters.created_after),
        created_before=_utc("created_before", filters.created_before),
        within=_segment_contacts(request, filters.segment),
    )
    items, next_cursor = pagination.page(queryset, filters.cursor, filters.limit)
    return {"items": [_present(item) for item in items], "next_cursor": next_cursor}


@router.post(
    "/",
    response={201: SubscriberOut, 202: Accepted, 403: Error, 422: Error},
    summary="Subscribe someone",
)
def create_subscriber(request: HttpRequest, payload: SubscriberIn):
    """Double opt-in (a confirmation mail) unless ``attestation`` says how the person
    consented; either way the newsletter's consent wording goes to the ledger.
    A suppressed address is accepted (202) but not subscribed."""
    require(request, Role.EDITOR)
    lists = lists_by_slug(request, payload.lists)
    try:
        with transaction.atomic():
            outcome = services.subscribe(
                newsletter=request.newsletter,
                email=payload.email,
                name=payload.name,
                lists=lists,
                source=ConsentSource.API,
                wording=request.newsletter.consent_text,
                attestation=payload.attestation.strip(),
                actor=actor(request) if payload.attestation.strip() else "",
            )
            if outcome.subscriber is None:
                return Status(202, {"detail": "Accepted; this address cannot be subscribed."})
            if payload.attributes:
                services.update_subscriber(
                    newsletter=request.newsletter,
                    subscriber=outcome.subscriber,
                    attributes=payload.attributes,
                )
    except ValidationError as error:
        raise from_django(error, "email") from None
    return Status(201, _present(_one(request, outcome.subscriber.pk)))


@router.get("/{subscriber_id}/", response={200: SubscriberOut, 404: Error, 422: Error})
def get_subscriber(request: HttpRequest, subscriber_id: int):
    return _present(_one(request, subscriber_id))


@router.patch(
    "/{subscriber_id}/", response={200: SubscriberOut, 403: Error, 404: Error, 422: Error}
)
def update_subscriber(request: HttpRequest, subscriber_id: int, payload: SubscriberPatch):
    """Change name and attributes; ``lists`` replaces this newsletter's lists (removals
    unsubscribe, additions subscribe, each recorded in the consent ledger). Archived
    lists take no new subscriptions, and their subscriptions are left as they are.

    The reader's choices (``tracking``, ``mail_format``, the pause, ``frequencies``
    per list) are for the newsletter's own integrations acting for the reader; the
    tracking choice can only be made stricter here. All or nothing: one invalid field
    and nothing changes."""
    require(request, Role.EDITOR)
    subscriber = _one(request, subscriber_id)
    lists = lists_by_slug(request, payload.lists) if payload.lists is not None else None
    attestation = payload.attestation.strip()
    try:
        with transaction.atomic():
            services.update_subscriber(
                newsletter=request.newsletter,
                subscriber=subscriber,
                name=payload.name,
                attributes=payload.attributes,
                lists=lists,
                attestation=attestation,
                actor=actor(request) if attestation else "",
            )
            choices = _reader_choices(payload)
            if choices is not None:
                services.reader_choices_update(
                    newsletter=request.newsletter,
                    subscriber=subscriber,
                    choices=choices,
                    actor=actor(request),
                )
    except ValidationError as error:  # e.g. a new subscription to an archived list
        raise from_django(error, "lists") from None
    return _present(_one(request, subscriber_id))


def _reader_choices(payload: SubscriberPatch) -> services.ReaderChoices | None:
    """The reader choices the request names, or None when it names none."""
    given = payload.model_fields_set & {
        "tracking",
        "mail_format",
        "paused_until",
        "paused_indefinitely",
        "frequencies",
        "time_zone",
    }
    if not given:
        return None
    return services.ReaderChoices(
        tracking=payload.tracking,
        mail_format=payload.mail_format,
        paused_until=_utc("paused_until", payload.paused_until),
        paused_indefinitely=payload.paused_indefinitely,
        unpause="paused_until" in given and payload.paused_until is None,
        frequencies=payload.frequencies or {},
        time_zone=payload.time_zone.strip() if payload.time_zone is not None else None,
    )


@router.delete("/{subscriber_id}/", response={204: None, 403: Error, 404: Error, 422: Error})
def erase_subscriber(request: HttpRequest, subscriber_id: int):
    """Erase the contact (GDPR art. 17) from this newsletter: its data here, keeping only
    a suppression digest (this newsletter never mails the address again) and the
    ledger's chain. Other newsletters' contacts at the address are not changed."""
    require(request, Role.EDITOR)
    subscriber = _one(request, subscriber_id)
    personal_data.erase(
        claim=Claim(subscriber.pk, request.newsletter.pk),
        source=ConsentSource.API,
        actor=actor(request),
    )
    return HttpResponse(status=204)
