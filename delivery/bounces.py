"""Bounce mail for campaigns sent over SMTP: VERP envelope senders, and the delivery
status notifications (DSNs) that come back to them.

With ``CRIER_BOUNCE_DOMAIN`` set, each campaign message leaves with the envelope
sender ``bounces+<delivery id>-<mac>@<bounce domain>`` (VERP): whatever comes back to
that address names its delivery, however the receiving server words its report and
wherever the mail was forwarded. The mac is an HMAC of the id (Django's
``salted_hmac``, a salt of its own), so a forged bounce cannot suppress anyone: mail
to a bounce address whose token does not verify is ignored. flufl.bounce (Mailman's
detectors) reads the DSN to tell a permanent failure from a temporary one; the
result goes through ``feedback.record``, like an ESP's webhook.
"""

import email
import email.message
import hashlib
import logging
from dataclasses import dataclass

from django.conf import settings
from flufl.bounce import all_failures

from . import feedback
from .mailbox import ImapMailbox, PollReport, SignedAddresses, poll
from .models import BounceType, Delivery, FeedbackKind

logger = logging.getLogger(__name__)

SALT = "crier.delivery.bounce"
# Where a message to a VERP address says which address it was delivered to.
ENVELOPE_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "To")
ESP_NAME = "smtp"


# VERP addresses


def _addresses() -> SignedAddresses | None:
    if not settings.BOUNCE_DOMAIN:
        return None
    return SignedAddresses(SALT, settings.BOUNCE_LOCAL_PART, settings.BOUNCE_DOMAIN)


def verp_address(delivery_id: int) -> str:
    """The envelope sender for one delivery, or "" when no bounce domain is configured:
    ``bounces+1234-0123456789abcdef@bounces.example.org`` (delivery/mailbox.py)."""
    addresses = _addresses()
    return addresses.address(delivery_id) if addresses else ""


def delivery_of(address: str) -> int | None:
    """The delivery id a VERP address names, if its token verifies."""
    addresses = _addresses()
    return addresses.delivery_of(address) if addresses else None


# Bounce messages


@dataclass(frozen=True)
class BounceOutcome:
    """What one message to the bounce mailbox turned out to be, for logs and the command."""

    verdict: str  # "hard", "soft", "duplicate", "not_a_bounce", "unknown_address", "unreadable"
    delivery_id: int | None = None


def process_message(raw: bytes, *, envelope_recipient: str = "") -> BounceOutcome:
    """Record one bounce message; anything that is not a bounce for our mail changes nothing.

    ``envelope_recipient`` is the address the mail server delivered it to, when it
    says so (Postfix: ``$ORIGINAL_RECIPIENT``); otherwise the headers tell.
    """
    message = email.message_from_bytes(raw)
    addresses = _addresses()
    delivery_id = (
        addresses.delivery_addressed(message, envelope_recipient, ENVELOPE_HEADERS)
        if addresses
        else None
    )
    delivery = (
        Delivery.objects.select_related("subscriber").filter(pk=delivery_id).first()
        if delivery_id is not None
        else None
    )
    if delivery is None:
        logger.info("bounce mailbox: not addressed to a valid bounce address")
        return BounceOutcome("unknown_address")
    try:
        temporary, permanent = all_failures(message)
    except Exception:  # a heuristic detector tripped on a shape nobody foresaw
        logger.exception("bounce mailbox: unreadable message", extra={"delivery": delivery.pk})
        return BounceOutcome("unreadable", delivery.pk)
    if not (temporary or permanent):
        # An auto-reply, a challenge, a human: VERP says whose, not that it bounced.
        logger.info("bounce mailbox: no delivery failure found", extra={"delivery": delivery.pk})
        return BounceOutcome("not_a_bounce", delivery.pk)
    bounce_type = BounceType.HARD if permanent else BounceType.SOFT
    recorded = feedback.record(
        feedback=feedback.Feedback(
            esp=ESP_NAME,
            event_id=_message_key(message, raw),
            kind=FeedbackKind.BOUNCED,
            bounce_type=bounce_type,
            recipient=delivery.subscriber.email or "",
            delivery_id=delivery.pk,
            detail=_diagnostic(message),
        ),
        scope=feedback.INTERNAL,  # the VERP address is signed: it names its delivery
    )
    return BounceOutcome("duplicate" if recorded.duplicate else bounce_type, delivery.pk)


def _message_key(message: email.message.Message, raw: bytes) -> str:
    """The bounce's own Message-ID, so the same bounce fetched twice counts once."""
    message_id = (message.get("Message-ID") or "").strip()
    return message_id or "sha256:" + hashlib.sha256(raw).hexdigest()


def _diagnostic(message: email.message.Message) -> str:
    """The receiving server's words (RFC 3464 Diagnostic-Code, else Status), if any."""
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        for block in part.get_payload() or []:
            if not isinstance(block, email.message.Message):
                continue
            text = block.get("Diagnostic-Code") or block.get("Status")
            if text:
                return " ".join(str(text).split())
    return ""


# The mailbox


def poll_imap() -> PollReport:
    """Process every unseen message in the bounce mailbox (``CRIER_BOUNCE_IMAP_*``).

    A processed bounce is deleted; anything else is marked seen and left for a
    person to read. A message whose processing fails stays unseen for the next poll.
    """
    if not settings.BOUNCE_IMAP_HOST:
        return PollReport()
    mailbox = ImapMailbox(
        host=settings.BOUNCE_IMAP_HOST,
        port=settings.BOUNCE_IMAP_PORT,
        user=settings.BOUNCE_IMAP_USER,
        password=settings.BOUNCE_IMAP_PASSWORD,
        folder=settings.BOUNCE_IMAP_FOLDER,
        ssl=settings.BOUNCE_IMAP_SSL,
    )
    report = poll(
        mailbox, lambda raw: process_message(raw).verdict in ("hard", "soft", "duplicate")
    )
    logger.info("bounce mailbox polled", extra=report.__dict__)
    return report
