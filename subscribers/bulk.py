"""Bulk actions of the subscribers page: on a selection, or on everyone a filter matches.

Each action walks the chosen contacts by id in chunks, one transaction per chunk,
through the same services as one person's change (``services.subscribe`` and
``services.unsubscribe``), so every change is in the consent ledger as the editor's
act and the webhooks hear of it. A chunk commits whole or not at all; an action cut
short (a worker restarted, a lost connection) is repeated safely: what was done is
found done and counted as "already".

The contacts come from ``selectors.subscribers_of``, which only ever returns the
newsletter's own: ids of another newsletter's people in a request match nobody.
"""

from collections.abc import Iterator
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext

from newsletter.models import Newsletter

from . import services
from .models import (
    ConsentSource,
    MailingList,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
)
from .tokens import Claim

CHUNK_SIZE = 500


@dataclass
class BulkOutcome:
    """What an action did: ``done`` changed, ``already`` were as asked, ``skipped`` may
    not be changed by an editor (they left, bounced or complained)."""

    done: int = 0
    already: int = 0
    skipped: int = 0


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


def bulk_add_to_list(
    *,
    newsletter: Newsletter,
    contacts: QuerySet[Subscriber],
    mailing_list: MailingList,
    attestation: str,
    actor: str,
) -> BulkOutcome:
    """Confirm ``mailing_list`` for the contacts on the editor's ``attestation``.

    Nobody is added back to a list they left, nor to any list once they left every
    list, bounced or complained: only they can undo that (``services.subscribe``).
    """
    _check_list(newsletter, mailing_list)
    if mailing_list.archived_at:
        raise ValidationError({"list": gettext("Archived lists take no new subscriptions.")})
    attestation = attestation.strip()
    if not attestation:
        raise ValidationError(
            {"attestation": gettext("Say how these people agreed to receive this list.")}
        )
    outcome = BulkOutcome()
    for chunk in chunks(contacts):
        with transaction.atomic():
            current = dict(
                Subscription.objects.filter(
                    subscriber_id__in=chunk, mailing_list=mailing_list
                ).values_list("subscriber_id", "status")
            )
            for contact in Subscriber.objects.filter(pk__in=chunk, newsletter=newsletter):
                status = current.get(contact.pk)
                if status == SubscriptionStatus.CONFIRMED:
                    outcome.already += 1
                    continue
                if contact.status != SubscriberStatus.ACTIVE or not contact.email:
                    outcome.skipped += 1
                    continue
                added = services.subscribe(
                    newsletter=newsletter,
                    email=contact.email,
                    lists=[mailing_list],
                    source=ConsentSource.DASHBOARD,
                    wording=newsletter.consent_text,
                    attestation=attestation,
                    actor=actor,
                )
                if added.confirmed:
                    outcome.done += 1
                else:
                    outcome.skipped += 1
    return outcome


def bulk_remove_from_list(
    *,
    newsletter: Newsletter,
    contacts: QuerySet[Subscriber],
    mailing_list: MailingList,
    actor: str,
) -> BulkOutcome:
    """End the contacts' subscriptions to ``mailing_list``, each in the ledger."""
    _check_list(newsletter, mailing_list)
    return _unsubscribe(newsletter, contacts, mailing_list, actor)


def bulk_unsubscribe(
    *, newsletter: Newsletter, contacts: QuerySet[Subscriber], actor: str
) -> BulkOutcome:
    """End every subscription of the contacts in this newsletter, each in the ledger."""
    return _unsubscribe(newsletter, contacts, None, actor)


def _unsubscribe(
    newsletter: Newsletter,
    contacts: QuerySet[Subscriber],
    mailing_list: MailingList | None,
    actor: str,
) -> BulkOutcome:
    outcome = BulkOutcome()
    for chunk in chunks(contacts):
        with transaction.atomic():
            for contact_id in chunk:
                ended = services.unsubscribe(
                    claim=Claim(contact_id, newsletter.pk),
                    source=ConsentSource.DASHBOARD,
                    mailing_list=mailing_list,
                    actor=actor,
                )
                if ended:
                    outcome.done += 1
                else:
                    outcome.already += 1
    return outcome


def _check_list(newsletter: Newsletter, mailing_list: MailingList) -> None:
    if mailing_list.newsletter_id != newsletter.pk:
        raise ValidationError({"list": gettext("Choose one of this newsletter's lists.")})
