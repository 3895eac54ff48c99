"""What the receiving side says after a message left: delivered, bounced, complained,
rejected, or unsubscribed at the ESP.

One service for every source — anymail's tracking webhooks (``webhooks.py``), bounce
mail sent back to VERP addresses (``bounces.py``) and refusals at send time
(``ledger.py``) — so an address is suppressed the same way however we learn of it.
Every event is recorded once (``DeliveryEvent``): ESPs deliver webhooks at least
once, and a repeat must change nothing.

An event acts only on the delivery it is provably about, and only on that
delivery's own subscriber (by id): never on "whoever has this address".

- Where it came from bounds what it may touch (``Scope``): a newsletter's own
  webhook URL speaks only for that newsletter's deliveries; the instance's URL only
  for newsletters that send through the instance's default backend.
- It names its delivery by the id we gave the ESP, signed (``tags.py``), or by
  the message id *and* the recipient together. A bare id (sequential, guessable)
  or a bare address matches nothing; such an event is recorded and changes nothing.
"""

import hashlib
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from anymail.signals import AnymailTrackingEvent, EventType, RejectReason
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from subscribers import services as subscribers
from subscribers.models import ConsentSource, Subscriber, SuppressionReason, address_digest
from subscribers.tokens import Claim

from .models import (
    BounceType,
    Delivery,
    DeliveryEvent,
    DeliveryStatus,
    FeedbackKind,
    SendingBackend,
)
from .signals import delivery_bounced, delivery_complained
from .tags import tagged_delivery_id

logger = logging.getLogger(__name__)

# The source name of refusals by the server or ESP when the message was handed over.
SEND_TIME = "send"

KINDS = {
    EventType.DELIVERED: FeedbackKind.DELIVERED,
    EventType.BOUNCED: FeedbackKind.BOUNCED,
    EventType.COMPLAINED: FeedbackKind.COMPLAINED,
    EventType.REJECTED: FeedbackKind.REJECTED,
    EventType.UNSUBSCRIBED: FeedbackKind.UNSUBSCRIBED,
}

# anymail says "bounced" but not whether it was for good; each ESP says it its own way.
SOFT_BOUNCE_SIGNS = {
    "amazon_ses": lambda raw: raw.get("bounce", {}).get("bounceType") != "Permanent",
    "postmark": lambda raw: raw.get("Type") in ("SoftBounce", "VirusNotification"),
    "brevo": lambda raw: raw.get("event") == "soft_bounce",
    "sendgrid": lambda raw: raw.get("type") == "blocked",
}
# An RFC 3463 enhanced status code or an RFC 5321 reply code of class 4: transient.
TRANSIENT_STATUS = re.compile(r"(?:^|\D)4\.\d{1,3}\.\d{1,3}(?:\D|$)|^\s*4\d\d(?:[\s-]|$)")
# Rejections that mean the ESP already knows the address bounces.
REJECTED_AS_BOUNCE = {RejectReason.INVALID, RejectReason.BOUNCED}
# Our own Message-ID (delivery/messages.py) names the delivery row.
OWN_MESSAGE_ID = re.compile(r"^<?(\d+)\.(\d+)\.crier@")


@dataclass(frozen=True)
class Scope:
    """Which deliveries a source may report on.

    ``newsletter_id``: a newsletter's own webhook, about its deliveries only.
    ``default_backend``: the instance's webhook, about newsletters without an active
    backend of their own. Neither: Crier's own sources (refusals at send time, VERP
    bounces), which name their delivery themselves.
    """

    newsletter_id: int | None = None
    default_backend: bool = False

    def deliveries(self, rows: QuerySet[Delivery]) -> QuerySet[Delivery]:
        if self.newsletter_id is not None:
            return rows.filter(campaign__newsletter_id=self.newsletter_id)
        if self.default_backend:
            own = SendingBackend.objects.filter(active=True).values("newsletter_id")
            return rows.exclude(campaign__newsletter_id__in=own)
        return rows


INTERNAL = Scope()
DEFAULT_BACKEND = Scope(default_backend=True)


@dataclass(frozen=True)
class Feedback:
    """One normalised event about one recipient of one message."""

    esp: str
    event_id: str
    kind: str
    recipient: str = ""
    delivery_id: int | None = None
    message_id: str = ""
    bounce_type: str = ""
    reject_reason: str = ""
    detail: str = ""
    occurred_at: datetime | None = None


@dataclass(frozen=True)
class Recorded:
    duplicate: bool
    delivery: Delivery | None = None


# From anymail's vocabulary


def esp_slug(esp_name: str) -> str:
    """ "Amazon SES" → "amazon_ses", as in the webhook URL."""
    return re.sub(r"\W+", "_", esp_name.strip().lower())


def from_anymail(event: AnymailTrackingEvent, esp_name: str) -> Feedback | None:
    """Our Feedback for an anymail tracking event, or None for events we do not act on
    (queued, sent, deferred: the ESP is still trying; opens and clicks: tracking's)."""
    kind = KINDS.get(event.event_type)
    if kind is None:
        return None
    esp = esp_slug(esp_name)
    recipient = event.recipient or ""
    raw = _plain(event.esp_event)
    return Feedback(
        esp=esp,
        event_id=str(event.event_id) if event.event_id else _fingerprint(raw),
        kind=kind,
        recipient=recipient,
        delivery_id=tagged_delivery_id((event.metadata or {}).get("delivery")),
        message_id=str(event.message_id or ""),
        bounce_type=_bounce_type(esp, raw, event) if kind == FeedbackKind.BOUNCED else "",
        reject_reason=str(event.reject_reason or ""),
        detail=" ".join(filter(None, [event.description, event.mta_response])),
        occurred_at=event.timestamp,
    )


def _plain(esp_event):
    """Mailgun's legacy webhooks give a QueryDict; everything else is JSON already."""
    return (
        {key: esp_event.getlist(key) for key in esp_event}
        if hasattr(esp_event, "getlist")
        else esp_event
    )


def _fingerprint(raw) -> str:
    """For ESPs whose events have no id (Brevo, Postmark deliveries): the same payload,
    delivered twice, has the same fingerprint."""
    canonical = json.dumps(raw, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def _bounce_type(esp: str, raw, event: AnymailTrackingEvent) -> str:
    sign = SOFT_BOUNCE_SIGNS.get(esp)
    if sign is not None and isinstance(raw, Mapping):
        return BounceType.SOFT if sign(raw) else BounceType.HARD
    return bounce_type_of_status(event.mta_response or event.description or "")


def bounce_type_of_status(text: str) -> str:
    """Soft for a 4xx SMTP reply or a 4.x.x status; otherwise the bounce is for good."""
    return BounceType.SOFT if TRANSIENT_STATUS.search(text) else BounceType.HARD


# Recording


@transaction.atomic
def record(*, feedback: Feedback, scope: Scope) -> Recorded:
    """Apply one event to the delivery ledger, the suppression list and consent, once.

    A hard bounce suppresses the address; soft bounces suppress it after
    ``CRIER_SOFT_BOUNCE_LIMIT`` in a row; a complaint leaves every list and suppresses;
    an ESP-side unsubscribe leaves the newsletter the message came from. A repeat of
    an event already recorded changes nothing, and so does an event that cannot be
    tied to one of ``scope``'s deliveries.
    """
    delivery = _find_delivery(feedback, scope)
    recipient = feedback.recipient or (delivery.subscriber.email if delivery else "") or ""
    try:
        with transaction.atomic():
            DeliveryEvent.objects.create(
                esp=feedback.esp[:40],
                event_id=feedback.event_id[:255],
                recipient_digest=address_digest(recipient) if recipient else "",
                kind=feedback.kind,
                bounce_type=feedback.bounce_type,
                delivery=delivery,
                detail=_redacted(feedback.detail, recipient)[:500],
                occurred_at=feedback.occurred_at,
            )
    except IntegrityError:
        logger.info("feedback already recorded", extra={"esp": feedback.esp})
        return Recorded(duplicate=True, delivery=delivery)
    if delivery is not None:
        changed = _mark(delivery, feedback)
        _apply(feedback, recipient, delivery)
        if changed:
            _announce(feedback, delivery)
    logger.info(
        "feedback recorded",
        extra={
            "esp": feedback.esp,
            "kind": feedback.kind,
            "bounce_type": feedback.bounce_type,
            "delivery": delivery.pk if delivery else None,
        },
    )
    return Recorded(duplicate=False, delivery=delivery)


def _find_delivery(feedback: Feedback, scope: Scope) -> Delivery | None:
    """The delivery the event is provably about, among ``scope``'s, or None.

    By the id in our signed tag (or one Crier's own sources give); else by the
    message id together with the recipient: a message id alone can be guessed (ours
    are sequential) and an ESP batch call gives many recipients one message id.
    Whatever found it, a recipient the event names must be the delivery's own.
    """
    rows = scope.deliveries(Delivery.objects.select_related("subscriber", "campaign"))
    digest = address_digest(feedback.recipient) if feedback.recipient else ""
    delivery = None
    if feedback.delivery_id is not None:
        delivery = rows.filter(pk=feedback.delivery_id).first()
    elif feedback.message_id and digest:
        by_recipient = rows.filter(subscriber__email_digest=digest)
        bare = feedback.message_id.strip().strip("<>")
        own = OWN_MESSAGE_ID.match(bare)
        if own:
            by_recipient = by_recipient.filter(pk=int(own[1]), campaign_id=int(own[2]))
        delivery = by_recipient.filter(esp_message_id__in=[bare, f"<{bare}>"]).first()
    if delivery is None:
        logger.info("feedback about no delivery of its scope", extra={"esp": feedback.esp})
        return None
    if digest and delivery.subscriber.email_digest != digest:
        logger.warning(
            "feedback names another recipient than its delivery's",
            extra={"esp": feedback.esp, "delivery": delivery.pk},
        )
        return None
    return delivery


def _redacted(text: str, recipient: str) -> str:
    """ESP and MTA texts often quote the address: the event table keeps none."""
    if not recipient:
        return text
    return re.sub(re.escape(recipient), "<recipient>", text, flags=re.IGNORECASE)


def _mark(delivery: Delivery, feedback: Feedback) -> bool:
    """Set the delivery's column for this kind, the first time only; True if it changed."""
    at = feedback.occurred_at or timezone.now()
    row = Delivery.objects.filter(pk=delivery.pk)
    if feedback.kind == FeedbackKind.BOUNCED:
        # A hard bounce overrides an earlier soft one; nothing overrides a hard one.
        if feedback.bounce_type == BounceType.HARD:
            row = row.exclude(bounce_type=BounceType.HARD)
        else:
            row = row.filter(bounce_type="")
        changed = row.update(bounced_at=at, bounce_type=feedback.bounce_type)
    else:
        column = {
            FeedbackKind.DELIVERED: "delivered_at",
            FeedbackKind.COMPLAINED: "complained_at",
            FeedbackKind.REJECTED: "rejected_at",
            FeedbackKind.UNSUBSCRIBED: "esp_unsubscribed_at",
        }[feedback.kind]
        changed = row.filter(**{f"{column}__isnull": True}).update(**{column: at})
    return bool(changed)


def _apply(feedback: Feedback, recipient: str, delivery: Delivery) -> None:
    """What the event means for the delivery's own contact (by id, never by address).

    Only a hard bounce or a complaint about a message that was actually sent stops
    every newsletter's mail to the address; anything else stops the contact's own
    newsletter at most. An event about no delivery of ours changes nobody.
    """
    note = f"{feedback.esp}: {_redacted(feedback.detail, recipient)}"[:500]
    contact_id = delivery.subscriber_id
    sent = delivery.status == DeliveryStatus.SENT
    if feedback.kind == FeedbackKind.BOUNCED:
        if feedback.bounce_type == BounceType.HARD:
            subscribers.record_bounce(contact_id=contact_id, everywhere=sent, note=note)
        elif _soft_bounce_limit_reached(contact_id):
            subscribers.record_bounce(
                contact_id=contact_id,
                everywhere=False,
                reason=SuppressionReason.SOFT_BOUNCES,
                note=f"{settings.SOFT_BOUNCE_LIMIT} soft bounces in a row. {note}"[:500],
            )
    elif feedback.kind == FeedbackKind.COMPLAINED:
        subscribers.record_complaint(
            contact_id=contact_id, everywhere=sent, note=note, campaign_id=delivery.campaign_id
        )
    elif feedback.kind == FeedbackKind.REJECTED:
        if feedback.reject_reason in REJECTED_AS_BOUNCE:
            subscribers.record_bounce(contact_id=contact_id, everywhere=False, note=note)
        elif feedback.reject_reason == RejectReason.SPAM:
            subscribers.record_refusal(
                contact_id=contact_id, reason=SuppressionReason.COMPLAINT, note=note
            )
    elif feedback.kind == FeedbackKind.UNSUBSCRIBED:
        # Which newsletter the person left is known only through the delivery.
        subscribers.unsubscribe(
            claim=Claim(contact_id, delivery.campaign.newsletter_id),
            source=ConsentSource.ESP_UNSUBSCRIBE,
            campaign_id=delivery.campaign_id,
        )


def _soft_bounce_limit_reached(subscriber_id: int) -> bool:
    """The person's last N messages with a known outcome all bounced softly."""
    limit = settings.SOFT_BOUNCE_LIMIT
    if limit <= 0:
        return False
    outcomes = list(
        Delivery.objects.filter(subscriber_id=subscriber_id)
        .filter(Q(delivered_at__isnull=False) | ~Q(bounce_type=""))
        .order_by("-id")
        .values_list("bounce_type", "delivered_at")[:limit]
    )
    return len(outcomes) == limit and all(
        bounce == BounceType.SOFT and delivered is None for bounce, delivered in outcomes
    )


def _announce(feedback: Feedback, delivery: Delivery) -> None:
    """Signals for other apps (outgoing webhooks), once the change is committed."""
    subscriber = Subscriber.objects.get(pk=delivery.subscriber_id)
    if feedback.kind == FeedbackKind.BOUNCED:
        transaction.on_commit(
            lambda: delivery_bounced.send(
                sender=Delivery,
                delivery=delivery,
                subscriber=subscriber,
                bounce_type=feedback.bounce_type,
            ),
            robust=True,
        )
    elif feedback.kind == FeedbackKind.COMPLAINED:
        transaction.on_commit(
            lambda: delivery_complained.send(
                sender=Delivery, delivery=delivery, subscriber=subscriber
            ),
            robust=True,
        )


def prune_events(*, older_than: timedelta | None = None) -> int:
    """Forget events older than any ESP's retries; the outcome stays on the delivery row."""
    if older_than is None:
        older_than = timedelta(days=settings.FEEDBACK_EVENT_RETENTION_DAYS)
    deleted, _ = DeliveryEvent.objects.filter(received_at__lt=timezone.now() - older_than).delete()
    return deleted
