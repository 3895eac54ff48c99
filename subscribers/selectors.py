"""Reads for the API and the dashboard: who is in a newsletter, filtered, without N+1."""

from datetime import datetime

from django.db.models import Exists, OuterRef, Prefetch, QuerySet

from newsletter.models import Newsletter

from .models import MailingList, Subscriber, Subscription


def subscribers_of(
    newsletter: Newsletter,
    *,
    mailing_list: MailingList | None = None,
    subscription_status: str | None = None,
    status: str | None = None,
    attributes: dict | None = None,
    email: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> QuerySet[Subscriber]:
    """Subscribers with a subscription (any status) in the newsletter, or in one list.

    Subscribers are shared by every newsletter of the instance; a newsletter sees
    those who subscribed to one of its lists, with only its own subscriptions
    prefetched (two queries for a page, whatever its size).
    """
    list_ids = (
        [mailing_list.pk]
        if mailing_list is not None
        else list(newsletter.lists.values_list("pk", flat=True))
    )
    memberships = Subscription.objects.filter(
        subscriber=OuterRef("pk"), mailing_list_id__in=list_ids
    )
    if subscription_status:
        memberships = memberships.filter(status=subscription_status)
    queryset = Subscriber.objects.filter(Exists(memberships))
    if status:
        queryset = queryset.filter(status=status)
    if attributes:
        queryset = queryset.filter(attributes__contains=attributes)
    if email:
        queryset = queryset.filter(email__iexact=email)
    if created_after:
        queryset = queryset.filter(created_at__gte=created_after)
    if created_before:
        queryset = queryset.filter(created_at__lt=created_before)
    own = Subscription.objects.filter(mailing_list__newsletter=newsletter).select_related(
        "mailing_list"
    )
    return queryset.prefetch_related(Prefetch("subscriptions", queryset=own)).order_by("pk")
