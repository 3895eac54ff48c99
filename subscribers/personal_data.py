"""A person's data: what one newsletter may erase, and what the person does for themself.

Erasing from a newsletter's dashboard or API (``erase``) empties that newsletter's
contact and everything the instance keeps about it (its subscriptions, the personal
values of its ledger, and, through the ``subscriber_erased`` signal, its tracking
events and IP addresses, delivery errors and feedback details, webhook payloads and
outbox copies), and suppresses the address in that newsletter. Other newsletters'
contacts at the same address are theirs, and are left as they are.

The person's own requests, made through a short-lived link mailed to their address
(``tokens.data_token``), act on every contact at the address (``selectors.person_at``):
``export_person`` gives them everything the instance keeps about them,
``unsubscribe_everywhere`` stops all mail, and ``erase_everywhere`` erases every
contact and suppresses the address instance-wide. A suppression keeps only a digest,
and the ledger keeps only digests of what it hashed: both stay verifiable.
"""

import logging
import re
from datetime import datetime

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import QuerySet, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from newsletter import ratelimit

from . import extensions, ledger, services, suppressions, tasks
from .ledger import Evidence
from .models import (
    BulkJob,
    ConsentAction,
    ImportProblem,
    MailFormat,
    Subscriber,
    SubscriberStatus,
    Suppression,
    SuppressionReason,
    address_digest,
)
from .selectors import person_at
from .signals import subscriber_erased
from .tokens import Claim

logger = logging.getLogger(__name__)

DATA_LINKS_PER_ADDRESS_PER_HOUR = 3
ERASED_MARK = "<erased>"


def _locked_person(email: str) -> QuerySet[Subscriber]:
    """Every contact at the address, row-locked in id order (no deadlock between two)."""
    return person_at(email).select_for_update(of=("self",))


# The data link


def request_data_link(*, claim: Claim) -> bool:
    """Mail the person a link to their data (export, stop all mail, erase), valid an hour.

    Asked for from a preference center, whose link may have been forwarded: the
    link goes to the address itself, so only its owner can act on all their data.
    At most a few per address and hour.
    """
    contact = services.contact_for_claim(claim)
    if contact is None or not contact.email:
        return False
    if not ratelimit.hit(
        "data-link",
        contact.email,
        limit=DATA_LINKS_PER_ADDRESS_PER_HOUR,
        window_seconds=3600,
    ):
        logger.warning("data link rate-limited", extra={"subscriber": contact.pk})
        return False
    tasks.send_data_link.delay_on_commit(contact.pk)
    return True


# Export


def export_person(contact: Subscriber) -> dict:
    """Everything the instance keeps about the person at this contact's address, in every
    newsletter, as a JSON-ready dict (GDPR articles 15 and 20)."""
    contacts = list(person_at(contact.email)) if contact.email else [contact]
    digest = address_digest(contact.email or "")
    kept = Suppression.objects.filter(email_digest=digest).select_related("newsletter")
    return {
        "email": contact.email,
        "exported_at": _iso(timezone.now()),
        "newsletters": [_contact_data(each) for each in contacts],
        "suppressions": [
            {
                "newsletter": suppression.newsletter.name if suppression.newsletter else None,
                "reason": suppression.reason,
                "note": suppression.note,
                "since": _iso(suppression.created_at),
            }
            for suppression in (kept if digest else [])
        ],
    }


def _contact_data(contact: Subscriber) -> dict:
    """One newsletter's contact: its profile, subscriptions, ledger, deliveries, tracking.

    Deliveries and tracking are read through the reverse relations, so this app
    imports neither ``delivery`` nor ``tracking`` (which import it).
    """
    subscriptions = contact.subscriptions.select_related("mailing_list")
    events = contact.consent_events.select_related("mailing_list").order_by("id")
    # The newsletter's campaigns named: one probe each of the unique (campaign,
    # subscriber) index; deliveries have no index by subscriber alone.
    campaign_ids = list(contact.newsletter.campaigns.values_list("pk", flat=True))
    deliveries = (
        contact.deliveries.filter(campaign_id__in=campaign_ids)
        .select_related("campaign")
        .prefetch_related("events")
        .order_by("id")
    )
    tracking = contact.tracking_events.select_related("campaign", "link").order_by("id")
    return {
        "newsletter": contact.newsletter.name,
        "name": contact.name,
        "language": contact.language,
        "attributes": contact.attributes,
        "status": contact.status,
        "tracking_opt_out": contact.tracking_opt_out,
        "tracking": contact.tracking_choice,
        "mail_format": contact.mail_format,
        "time_zone": contact.time_zone,
        "paused_until": _iso(contact.paused_until),
        "paused_indefinitely": contact.paused_indefinitely,
        "created_at": _iso(contact.created_at),
        "subscriptions": [
            {
                "list": subscription.mailing_list.name,
                "status": subscription.status,
                "frequency": subscription.frequency,
                "subscribed_at": _iso(subscription.created_at),
                "confirmed_at": _iso(subscription.confirmed_at),
                "unsubscribed_at": _iso(subscription.unsubscribed_at),
            }
            for subscription in subscriptions
        ],
        "consent_history": [
            {
                "at": _iso(event.created_at),
                "action": event.action,
                "source": event.source,
                "list": event.mailing_list.name if event.mailing_list else None,
                "wording": event.wording,
                "details": event.details,
                "ip_address": event.ip_address,
                "user_agent": event.user_agent,
            }
            for event in events
        ],
        "deliveries": [
            {
                "campaign": delivery.campaign.name,
                "subject": delivery.campaign.subject,
                "status": delivery.status,
                "sent_at": _iso(delivery.sent_at),
                "delivered_at": _iso(delivery.delivered_at),
                "bounced_at": _iso(delivery.bounced_at),
                "bounce_type": delivery.bounce_type,
                "complained_at": _iso(delivery.complained_at),
                "rejected_at": _iso(delivery.rejected_at),
                "unsubscribed_at": _iso(delivery.unsubscribed_at),
                "unsubscribed_at_sending_service": _iso(delivery.esp_unsubscribed_at),
                "error": delivery.last_error,
                "feedback": [
                    {
                        "kind": event.kind,
                        "bounce_type": event.bounce_type,
                        "detail": event.detail,
                        "at": _iso(event.occurred_at or event.received_at),
                    }
                    for event in delivery.events.all()
                ],
            }
            for delivery in deliveries
        ],
        "opens_and_clicks": [
            {
                "campaign": event.campaign.name,
                "kind": event.kind,
                "link": event.link.url if event.link else None,
                "machine": event.machine,
                "agent": event.agent,
                "ip_address": event.ip,
                "at": _iso(event.occurred_at),
            }
            for event in tracking
        ],
        # What other apps keep about the contact (consultation answers, referrals…).
        **extensions.exported(contact),
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


# Stop all mail


@transaction.atomic
def unsubscribe_everywhere(*, claim: Claim, source: str, evidence: Evidence | None = None) -> int:
    """The person stops all mail from this instance: every contact at the address leaves
    every list (each in its ledger) and the address is suppressed instance-wide."""
    contact = services.contact_for_claim(claim)
    if contact is None or not contact.email:
        return 0
    ended = 0
    for each in _locked_person(contact.email):
        ended += services.leave_everything(
            each, source, evidence, SubscriberStatus.UNSUBSCRIBED, everywhere=True
        )
    return ended


# Erasure


@transaction.atomic
def erase(*, claim: Claim, source: str, actor: str = "") -> None:
    """Erase one newsletter's contact (its dashboard or API, on the person's request):
    its data only, and a suppression of the address in that newsletter. ``actor``
    names the maintainer who did it."""
    contact = services.contact_for_claim(claim)
    if contact is None:
        raise Subscriber.DoesNotExist(f"no contact for {claim}")
    contact = services.lock_contact(contact.pk)
    if contact.status == SubscriberStatus.ERASED:
        return
    if contact.email:
        suppressions.suppress(
            email=contact.email, reason=SuppressionReason.ERASED, newsletter=contact.newsletter
        )
    _erase_contact(contact, source=source, actor=actor, everywhere=False)


@transaction.atomic
def erase_everywhere(*, claim: Claim, source: str) -> int:
    """The person's own "erase me": every contact at the address, in every newsletter,
    and an instance-wide suppression so that no newsletter mails it again."""
    contact = services.contact_for_claim(claim)
    if contact is None or not contact.email:
        return 0
    email = contact.email
    suppressions.suppress(email=email, reason=SuppressionReason.ERASED, newsletter=None)
    erased = 0
    for each in _locked_person(email):
        _erase_contact(each, source=source, actor="", everywhere=True)
        erased += 1
    return erased


def _erase_contact(contact: Subscriber, *, source: str, actor: str, everywhere: bool) -> None:
    """Empty one locked contact and every row of this app that quotes it, then tell the
    other apps (inside this transaction: the erasure happens whole or not at all)."""
    email, name = contact.email or "", contact.name
    ledger.append(
        subscriber=contact,
        action=ConsentAction.ERASED,
        source=source,
        details={"actor": actor} if actor else None,
    )
    ledger.erase_personal_data(contact)
    contact.subscriptions.all().delete()
    _redact_import_problems(email, newsletter_id=None if everywhere else contact.newsletter_id)
    _redact_bulk_job_filters(email, newsletter_id=None if everywhere else contact.newsletter_id)
    LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Subscriber), object_id=str(contact.pk)
    ).update(object_repr=f"erased subscriber {contact.pk}")
    contact.email = None
    contact.name = ""
    contact.language = ""
    contact.attributes = {}
    contact.status = SubscriberStatus.ERASED
    # Hits on mail sent before are counted, never recorded against the empty row.
    contact.tracking_opt_out = True
    contact.tracking_off = False
    contact.mail_format = MailFormat.HTML
    contact.time_zone = ""
    contact.paused_until = None
    contact.paused_indefinitely = False
    contact.save()
    subscriber_erased.send(
        sender=Subscriber, contact=contact, email=email, name=name, everywhere=everywhere
    )
    logger.info("subscriber erased", extra={"subscriber": contact.pk, "everywhere": everywhere})


def _redact_bulk_job_filters(email: str, *, newsletter_id: int | None) -> None:
    """A bulk job keeps the subscribers page's filters it was made from, and an editor's
    search may have been the person's address."""
    if not email:
        return
    jobs = BulkJob.objects.annotate(text=Cast("filters", TextField())).filter(text__icontains=email)
    if newsletter_id is not None:
        jobs = jobs.filter(newsletter_id=newsletter_id)
    pattern = re.compile(re.escape(email), re.IGNORECASE)
    for job in jobs:
        job.filters = {key: pattern.sub(ERASED_MARK, value) for key, value in job.filters.items()}
        job.save(update_fields=["filters"])


def _redact_import_problems(email: str, *, newsletter_id: int | None) -> None:
    """Import problems quote the line's address when it is what is wrong with it."""
    if not email:
        return
    problems = ImportProblem.objects.filter(reason__icontains=email)
    if newsletter_id is not None:
        problems = problems.filter(batch__newsletter_id=newsletter_id)
    pattern = re.compile(re.escape(email), re.IGNORECASE)
    for problem in problems:
        problem.reason = pattern.sub(ERASED_MARK, problem.reason)
        problem.save(update_fields=["reason"])
