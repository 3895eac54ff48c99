"""Bulk actions of the subscribers page: on a selection, or on everyone a filter matches.

Each action changes a chunk of contacts at a time, set-based, in one transaction per
chunk: the contacts are row-locked (as ``services`` lock one), their subscriptions
changed with a few statements, the consent ledger written with one COPY
(``ledger.bulk_append``, each event chained to the person's last one) and the same
signals sent as for one person's change (webhooks, automations, referrals hear of
it). A chunk commits whole or not at all; a chunk repeated after an interruption
finds its people done and counts them as "already", so nobody is changed or written
in the ledger twice. Selections too large for a request become a ``BulkJob``
(``bulk_jobs``), whose chunks are these.

The rules are those of one person's change (``services.subscribe`` with an
attestation, ``services.unsubscribe``): nobody is added back to a list they left,
nor to any list once they left every list, bounced, complained or are suppressed.

Contacts come from ``selectors.subscribers_of`` and every chunk is filtered by the
newsletter again: ids of another newsletter's people match nobody.
"""

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from newsletter.models import Newsletter

from . import ledger, signals
from .ledger import BulkEntry
from .models import (
    BulkJobAction,
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    MailingList,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
    Suppression,
)

CHUNK_SIZE = 500
LIVE = (SubscriptionStatus.PENDING, SubscriptionStatus.CONFIRMED)


@dataclass
class BulkOutcome:
    """What an action did: ``changed`` were changed, ``already`` were as asked,
    ``skipped`` may not be changed by an editor (they left, bounced or complained)."""

    changed: int = 0
    already: int = 0
    skipped: int = 0

    def add(self, other: "BulkOutcome") -> None:
        self.changed += other.changed
        self.already += other.already
        self.skipped += other.skipped


@dataclass(frozen=True)
class BulkRequest:
    """One bulk action as asked: checked once (``check``), then applied chunk by chunk."""

    newsletter: Newsletter
    action: str
    mailing_list: MailingList | None
    attestation: str
    actor: str
    job_id: int | None = None


def check(request: BulkRequest) -> None:
    """Refuse a request that could change nobody, before anything is written."""
    if request.action not in BulkJobAction.values:
        raise ValidationError({"action": gettext("Choose an action.")})
    if request.action == BulkJobAction.UNSUBSCRIBE:
        return
    mailing_list = request.mailing_list
    if mailing_list is None or mailing_list.newsletter_id != request.newsletter.pk:
        raise ValidationError({"list": gettext("Choose one of this newsletter's lists.")})
    if request.action == BulkJobAction.ADD:
        if mailing_list.archived_at:
            raise ValidationError({"list": gettext("Archived lists take no new subscriptions.")})
        if not request.attestation.strip():
            raise ValidationError(
                {"attestation": gettext("Say how these people agreed to receive this list.")}
            )


def chunks(contacts: QuerySet[Subscriber]) -> Iterator[list[int]]:
    """The contacts' ids, ascending, ``CHUNK_SIZE`` at a time (keyset: no OFFSET)."""
    size = CHUNK_SIZE
    ids = contacts.order_by("pk").values_list("pk", flat=True)
    last = 0
    while True:
        chunk = list(ids.filter(pk__gt=last)[:size])
        if not chunk:
            return
        yield chunk
        last = chunk[-1]


def bulk_apply(*, request: BulkRequest, contacts: QuerySet[Subscriber]) -> BulkOutcome:
    """Apply the action to the contacts now, a chunk per transaction (small selections)."""
    check(request)
    outcome = BulkOutcome()
    for chunk in chunks(contacts):
        with transaction.atomic():
            outcome.add(apply_chunk(request=request, ids=chunk))
    return outcome


def apply_chunk(*, request: BulkRequest, ids: Iterable[int]) -> BulkOutcome:
    """Apply the action to these contacts of the newsletter; the caller's transaction.

    Contacts are locked in id order, like every bulk writer, so two chunks never
    wait on each other in a circle.
    """
    contacts = list(
        Subscriber.objects.select_for_update(of=("self",))
        .filter(pk__in=list(ids), newsletter=request.newsletter)
        .order_by("pk")
    )
    if request.action == BulkJobAction.ADD:
        return _add(request, contacts)
    return _unsubscribe(request, contacts)


def _details(request: BulkRequest, **extra) -> dict:
    details = {**extra, "actor": request.actor}
    if request.job_id is not None:
        details["bulk_job"] = request.job_id
    return details


def _add(request: BulkRequest, contacts: list[Subscriber]) -> BulkOutcome:
    """Confirm the list on the attestation for those who may be added; ledger them."""
    newsletter, mailing_list = request.newsletter, request.mailing_list
    outcome = BulkOutcome()
    current = dict(
        Subscription.objects.filter(subscriber__in=contacts, mailing_list=mailing_list).values_list(
            "subscriber_id", "status"
        )
    )
    suppressed = set(
        Suppression.objects.filter(
            Q(newsletter__isnull=True) | Q(newsletter=newsletter),
            email_digest__in=[contact.email_digest for contact in contacts if contact.email],
        ).values_list("email_digest", flat=True)
    )
    to_add = []
    for contact in contacts:
        status = current.get(contact.pk)
        if status == SubscriptionStatus.CONFIRMED:
            outcome.already += 1
        elif (
            contact.status != SubscriberStatus.ACTIVE
            or not contact.email
            or contact.email_digest in suppressed
            or status == SubscriptionStatus.UNSUBSCRIBED
        ):
            outcome.skipped += 1
        else:
            to_add.append(contact)
    if not to_add:
        return outcome
    now = timezone.now()
    pending = [contact.pk for contact in to_add if contact.pk in current]
    Subscription.objects.filter(
        subscriber_id__in=pending, mailing_list=mailing_list, status=SubscriptionStatus.PENDING
    ).update(status=SubscriptionStatus.CONFIRMED, confirmed_at=now, unsubscribed_at=None)
    Subscription.objects.bulk_create(
        Subscription(
            subscriber=contact,
            mailing_list=mailing_list,
            newsletter=newsletter,
            status=SubscriptionStatus.CONFIRMED,
            confirmed_at=now,
        )
        for contact in to_add
        if contact.pk not in current
    )
    _ledger(
        request,
        to_add,
        mailing_list,
        ConsentAction.SUBSCRIBED,
        wording=newsletter.consent_text,
        details=_details(request, opt_in="attested", attestation=request.attestation.strip()),
        created_at=now,
    )
    for contact in to_add:
        signals.subscribed.send(
            sender=Subscriber,
            subscriber=contact,
            newsletter=newsletter,
            lists=[mailing_list],
            referrer=None,
        )
        signals.confirmed.send(
            sender=Subscriber, subscriber=contact, newsletter=newsletter, lists=[mailing_list]
        )
    outcome.changed = len(to_add)
    return outcome


def _unsubscribe(request: BulkRequest, contacts: list[Subscriber]) -> BulkOutcome:
    """End the contacts' live subscriptions (to the list, or all); ledger each one.

    A person with several lists gets one event per list, chained in turn: the ledger
    is written list by list, each round linking to the events of the one before.
    """
    newsletter = request.newsletter
    live = Subscription.objects.filter(subscriber__in=contacts, status__in=LIVE).select_related(
        "mailing_list"
    )
    if request.action == BulkJobAction.REMOVE:
        live = live.filter(mailing_list=request.mailing_list)
    ended = list(live.order_by("subscriber_id", "mailing_list_id"))
    by_contact = {contact.pk: contact for contact in contacts}
    now = timezone.now()
    Subscription.objects.filter(pk__in=[subscription.pk for subscription in ended]).update(
        status=SubscriptionStatus.UNSUBSCRIBED, unsubscribed_at=now
    )
    by_list: dict[int, list[Subscriber]] = defaultdict(list)
    lists: dict[int, MailingList] = {}
    left: dict[int, list[MailingList]] = defaultdict(list)
    for subscription in ended:
        by_list[subscription.mailing_list_id].append(by_contact[subscription.subscriber_id])
        lists[subscription.mailing_list_id] = subscription.mailing_list
        left[subscription.subscriber_id].append(subscription.mailing_list)
    for list_id, people in by_list.items():
        _ledger(
            request,
            people,
            lists[list_id],
            ConsentAction.UNSUBSCRIBED,
            wording="",
            details=_details(request),
            created_at=now,
        )
    # Left with no list at all: unsubscribed from everything (services._settle_after_leaving).
    Subscriber.objects.filter(pk__in=list(left), status=SubscriberStatus.ACTIVE).exclude(
        subscriptions__status__in=LIVE
    ).update(status=SubscriberStatus.UNSUBSCRIBED, updated_at=now)
    statuses = dict(Subscriber.objects.filter(pk__in=list(left)).values_list("pk", "status"))
    for contact_id, their_lists in left.items():
        contact = by_contact[contact_id]
        contact.status = statuses[contact_id]
        signals.unsubscribed.send(
            sender=Subscriber,
            subscriber=contact,
            newsletter=newsletter,
            lists=their_lists,
            campaign_id=None,
        )
    return BulkOutcome(changed=len(left), already=len(contacts) - len(left))


def _ledger(
    request: BulkRequest,
    people: list[Subscriber],
    mailing_list: MailingList,
    action: str,
    *,
    wording: str,
    details: dict,
    created_at,
) -> int:
    """One event per person, each chained to their last (read under their row lock)."""
    last = dict(
        ConsentEvent.objects.filter(subscriber__in=people)
        .order_by("subscriber_id", "-id")
        .distinct("subscriber_id")
        .values_list("subscriber_id", "hash")
    )
    return ledger.bulk_append(
        entries=(BulkEntry(p.pk, p.email or "", last.get(p.pk, "")) for p in people),
        action=action,
        source=ConsentSource.DASHBOARD,
        newsletter=request.newsletter,
        mailing_list=mailing_list,
        wording=wording,
        details=details,
        created_at=created_at,
    )
