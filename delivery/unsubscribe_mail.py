"""Unsubscribe requests by mail: the ``mailto:`` target of ``List-Unsubscribe``.

With ``CRIER_UNSUBSCRIBE_MAILTO`` set (``unsubscribe@lists.example.org``), each
campaign message offers, beside the HTTPS one-click link (RFC 8058), its own
address ``unsubscribe+<delivery id>-<mac>@lists.example.org`` (RFC 2369; the mac
as for VERP bounces, delivery/mailbox.py, with a salt of its own). Mail clients
that unsubscribe by mail write to it; whatever arrives there, from a pipe or an
IMAP mailbox, unsubscribes exactly that recipient from the newsletter the message
came from, in the consent ledger with source ``mail``. Mail to an address whose
mac does not verify changes nothing: nobody can unsubscribe someone else.
"""

import email
import email.message
import logging
from dataclasses import dataclass

from django.conf import settings

from subscribers import services as subscribers
from subscribers.models import ConsentSource
from subscribers.tokens import Claim

from .mailbox import ImapMailbox, PollReport, SignedAddresses, poll
from .models import Delivery

logger = logging.getLogger(__name__)

SALT = "crier.delivery.unsubscribe_mail"
# Where a message says which address it was delivered to; a person writing by hand
# may also have put it in copy.
ENVELOPE_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "To", "Cc")


def signed_addresses() -> SignedAddresses | None:
    """The per-recipient addresses, or None when the setting names no plain address."""
    local_part, at, domain = settings.UNSUBSCRIBE_MAILTO.strip().rpartition("@")
    if not (at and local_part and domain) or "+" in local_part:
        return None  # system check crier.E001 says why
    return SignedAddresses(SALT, local_part, domain)


def mailto_address(delivery_id: int) -> str:
    """The address that unsubscribes this delivery's recipient, or "" when not configured."""
    addresses = signed_addresses()
    return addresses.address(delivery_id) if addresses else ""


def delivery_of(address: str) -> int | None:
    addresses = signed_addresses()
    return addresses.delivery_of(address) if addresses else None


@dataclass(frozen=True)
class UnsubscribeOutcome:
    """What one message turned out to be, for logs and the command."""

    verdict: str  # "unsubscribed", "already_unsubscribed", "unknown_address"
    delivery_id: int | None = None


def process_message(raw: bytes, *, envelope_recipient: str = "") -> UnsubscribeOutcome:
    """Unsubscribe the recipient whose address this message was sent to; idempotent.

    ``envelope_recipient`` is the address the mail server delivered it to, when it
    says so (Postfix: ``$ORIGINAL_RECIPIENT``); otherwise the headers tell.
    """
    message = email.message_from_bytes(raw)
    addresses = signed_addresses()
    delivery_id = (
        addresses.delivery_addressed(message, envelope_recipient, ENVELOPE_HEADERS)
        if addresses
        else None
    )
    delivery = (
        Delivery.objects.select_related("campaign").filter(pk=delivery_id).first()
        if delivery_id is not None
        else None
    )
    if delivery is None:
        logger.info("unsubscribe mailbox: not addressed to a valid unsubscribe address")
        return UnsubscribeOutcome("unknown_address")
    ended = subscribers.unsubscribe(
        claim=Claim(delivery.subscriber_id, delivery.campaign.newsletter_id),
        source=ConsentSource.MAIL,
        campaign_id=delivery.campaign_id,
    )
    logger.info("unsubscribed by mail", extra={"delivery": delivery.pk, "subscriptions": ended})
    return UnsubscribeOutcome("unsubscribed" if ended else "already_unsubscribed", delivery.pk)


def poll_imap() -> PollReport:
    """Process every unseen message of ``CRIER_UNSUBSCRIBE_IMAP_*``'s mailbox.

    A request acted on (or already done) is deleted; anything else is marked
    seen and left for a person. A message whose processing fails stays unseen.
    """
    if not settings.UNSUBSCRIBE_IMAP_HOST:
        return PollReport()
    mailbox = ImapMailbox(
        host=settings.UNSUBSCRIBE_IMAP_HOST,
        port=settings.UNSUBSCRIBE_IMAP_PORT,
        user=settings.UNSUBSCRIBE_IMAP_USER,
        password=settings.UNSUBSCRIBE_IMAP_PASSWORD,
        folder=settings.UNSUBSCRIBE_IMAP_FOLDER,
        ssl=settings.UNSUBSCRIBE_IMAP_SSL,
    )
    report = poll(mailbox, lambda raw: process_message(raw).verdict != "unknown_address")
    logger.info("unsubscribe mailbox polled", extra=report.__dict__)
    return report
