"""Reads for the API and the dashboard: who is in a newsletter, filtered, without N+1."""

import json
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet

from newsletter.models import Newsletter

from .models import (
    BulkJob,
    ConsentAction,
    ConsentEvent,
    ImportBatch,
    MailingList,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
)

# Ledger events that mean "now receives mail from this list": a confirmation, an
# attested import, or a subscription that needed no confirmation (single opt-in,
# the preference center). A double opt-in "subscribed" only counts once confirmed.
# The dashboard's growth chart and the transparency page count with these.
JOINED = (
    Q(action=ConsentAction.CONFIRMED)
    | Q(action=ConsentAction.IMPORTED)
    | (Q(action=ConsentAction.SUBSCRIBED) & ~Q(details__opt_in="double"))
)
LEFT = Q(action=ConsentAction.UNSUBSCRIBED)


def subscribers_of(
    newsletter: Newsletter,
    *,
    mailing_list: MailingList | None = None,
    subscription_status: str | None = None,
    status: str | None = None,
    attributes: dict | None = None,
    email: str | None = None,
    search: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    id_below: int | None = None,
    id_above: int | None = None,
    within: QuerySet[Subscriber] | None = None,
) -> QuerySet[Subscriber]:
    """The newsletter's contacts, filtered, with their subscriptions prefetched (two
    queries for a page, whatever its size).

    Every contact belongs to one newsletter, so this is the newsletter's own people
    and no one else's. Erased contacts (empty rows kept for the ledger) are left out
    unless ``status`` asks for them. ``mailing_list`` and ``subscription_status``
    keep those with a subscription to that list (or any list) in that status.
    ``within`` keeps those among these contacts (a saved segment's, ``extensions``).
    """
    queryset = Subscriber.objects.filter(newsletter=newsletter)
    if id_below is not None:
        queryset = queryset.filter(pk__lt=id_below)
    if id_above is not None:
        queryset = queryset.filter(pk__gt=id_above)
    if mailing_list is not None or subscription_status:
        memberships = Subscription.objects.filter(subscriber=OuterRef("pk"))
        if mailing_list is not None:
            memberships = memberships.filter(mailing_list=mailing_list)
        if subscription_status:
            memberships = memberships.filter(status=subscription_status)
        queryset = queryset.filter(Exists(memberships))
    if status:
        queryset = queryset.filter(status=status)
    else:
        queryset = queryset.exclude(status=SubscriberStatus.ERASED)
    if attributes:
        queryset = queryset.filter(attributes__contains=attributes)
    if email:
        queryset = queryset.with_address(email)
    if search:
        queryset = queryset.filter(search_condition(search))
    if within is not None:
        queryset = queryset.filter(pk__in=within.values("pk"))
    if created_after:
        queryset = queryset.filter(created_at__gte=created_after)
    if created_before:
        queryset = queryset.filter(created_at__lt=created_before)
    subscriptions = Subscription.objects.select_related("mailing_list")
    return queryset.prefetch_related(Prefetch("subscriptions", queryset=subscriptions)).order_by(
        "pk"
    )


def search_condition(search: str) -> Q:
    """Address or name containing ``search``: ``UPPER(…) LIKE '%…%'``, the expression of the
    trigram GIN indexes of migration 0008 (on a big newsletter the planner uses them;
    on a small one, the newsletter's own index)."""
    return Q(email__icontains=search) | Q(name__icontains=search)


def contact_of(newsletter: Newsletter, pk: int) -> Subscriber | None:
    """The newsletter's contact with this id (erased ones too: their ledger remains)."""
    return (
        Subscriber.objects.filter(newsletter=newsletter, pk=pk)
        .prefetch_related(
            Prefetch("subscriptions", queryset=Subscription.objects.select_related("mailing_list"))
        )
        .first()
    )


def person_at(email: str) -> QuerySet[Subscriber]:
    """Every newsletter's contact at this address: the person, across the instance.

    The one selector that crosses newsletters. Only the person acting for themself
    (their preference center, and their data page: export, stop all mail, erase me)
    and instance admins use it; nothing a newsletter's member or token does may reach it.
    """
    return Subscriber.objects.with_address(email).select_related("newsletter").order_by("pk")


@dataclass(frozen=True)
class KeysetPage:
    """One page of a newest-first listing, and the ids to ask for the pages around it.

    No COUNT(*): on a million rows it would cost more than the page itself.
    """

    items: list
    newer: int | None  # pass as ``before`` for the previous (newer) page
    older: int | None  # pass as ``after`` for the next (older) page


def keyset_page(
    queryset: QuerySet, *, after: int | None = None, before: int | None = None, size: int
) -> KeysetPage:
    """Newest first by id: ``after`` gives rows older than an id, ``before`` newer ones."""
    if before is not None:
        rows = list(queryset.filter(pk__gt=before).order_by("pk")[: size + 1])
        more_newer = len(rows) > size
        items = rows[:size][::-1]
        return KeysetPage(
            items,
            newer=items[0].pk if items and more_newer else None,
            older=items[-1].pk if items else None,
        )
    if after is not None:
        queryset = queryset.filter(pk__lt=after)
    rows = list(queryset.order_by("-pk")[: size + 1])
    items = rows[:size]
    return KeysetPage(
        items,
        newer=items[0].pk if items and after is not None else None,
        older=items[-1].pk if len(rows) > size else None,
    )


# Above this many subscriptions (the planner's estimate), a list's size is shown as the
# planner's estimate rather than counted: counting a million index entries on every
# page load would make the lists page the slowest page of the dashboard.
EXACT_COUNT_LIMIT = 100_000


@dataclass(frozen=True)
class ListSize:
    confirmed: int
    pending: int
    unsubscribed: int
    approximate: bool


def list_sizes(newsletter: Newsletter) -> dict[int, ListSize]:
    """Subscriptions per list and status: exact for small lists, estimated for big ones.

    A newsletter whose lists are small together is counted in one grouped query;
    otherwise each list is judged on its own, so a huge list costs a few planner
    estimates instead of a count of a million rows on every visit.
    """
    list_ids = list(newsletter.lists.values_list("pk", flat=True))
    if not list_ids:
        return {}
    of_newsletter = Subscription.objects.filter(mailing_list_id__in=list_ids)
    if _estimated_rows(of_newsletter) <= EXACT_COUNT_LIMIT:
        counts: dict[int, dict[str, int]] = {list_id: {} for list_id in list_ids}
        grouped = of_newsletter.values_list("mailing_list_id", "status").annotate(n=Count("pk"))
        for list_id, status, count in grouped.order_by():
            counts[list_id][status] = count
        return {list_id: _size(counts[list_id], approximate=False) for list_id in list_ids}
    return {list_id: _one_list_size(list_id) for list_id in list_ids}


def _one_list_size(list_id: int) -> ListSize:
    of_list = Subscription.objects.filter(mailing_list_id=list_id)
    if _estimated_rows(of_list) > EXACT_COUNT_LIMIT:
        estimates = {
            status: _estimated_rows(of_list.filter(status=status))
            for status in SubscriptionStatus.values
        }
        return _size(estimates, approximate=True)
    exact = dict(of_list.values_list("status").annotate(n=Count("pk")).order_by())
    return _size(exact, approximate=False)


def _size(counts: dict[str, int], *, approximate: bool) -> ListSize:
    return ListSize(
        confirmed=counts.get(SubscriptionStatus.CONFIRMED, 0),
        pending=counts.get(SubscriptionStatus.PENDING, 0),
        unsubscribed=counts.get(SubscriptionStatus.UNSUBSCRIBED, 0),
        approximate=approximate,
    )


@dataclass(frozen=True)
class MatchCount:
    """How many contacts a filter matches: exact, or the planner's estimate when it
    is above ``EXACT_COUNT_LIMIT`` (then the page says "about")."""

    value: int
    approximate: bool


def count_matching(queryset: QuerySet[Subscriber]) -> MatchCount:
    """Count ``subscribers_of``'s contacts: exactly up to ``EXACT_COUNT_LIMIT`` (a
    count that stops there), beyond it from the planner's statistics, so that a
    newsletter of a million people does not count a million rows each time its
    subscribers page is opened."""
    plain = queryset.order_by().prefetch_related(None)
    capped = plain[: EXACT_COUNT_LIMIT + 1].count()
    if capped <= EXACT_COUNT_LIMIT:
        return MatchCount(capped, approximate=False)
    return MatchCount(max(_estimated_rows(plain), capped), approximate=True)


def _estimated_rows(queryset: QuerySet) -> int:
    """The planner's row estimate, from PostgreSQL's statistics."""
    plan = json.loads(queryset.explain(format="json"))
    return int(plan[0]["Plan"]["Plan Rows"])


def consent_history(contact: Subscriber) -> QuerySet[ConsentEvent]:
    """The contact's consent ledger, newest first: all of it is its newsletter's."""
    return contact.consent_events.select_related("mailing_list").order_by("-id")


def delivery_history(subscriber: Subscriber, newsletter: Newsletter, *, limit: int) -> list:
    """The newsletter's campaigns sent (or being sent) to this contact, newest first.

    Read through the reverse relation, so ``subscribers`` never imports ``delivery``
    (which imports ``subscribers``). The campaign ids are spelled out so that each is
    one probe of the (campaign, subscriber) unique index: deliveries have no index
    by subscriber alone, and a campaign has a million rows.
    """
    campaign_ids = list(newsletter.campaigns.values_list("pk", flat=True))
    return list(
        subscriber.deliveries.filter(campaign_id__in=campaign_ids)
        .select_related("campaign")
        .order_by("-id")[:limit]
    )


def recent_imports(newsletter: Newsletter, *, limit: int) -> QuerySet[ImportBatch]:
    return newsletter.imports.select_related("mailing_list").order_by("-created_at")[:limit]


def recent_bulk_jobs(newsletter: Newsletter, *, limit: int) -> list[BulkJob]:
    """The newsletter's latest bulk jobs, newest first, for the subscribers page."""
    return list(newsletter.bulk_jobs.select_related("mailing_list")[:limit])
