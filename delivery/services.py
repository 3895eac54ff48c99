"""Sending outside the campaign engine: test messages, campaign test sends, outbox housekeeping."""

import logging
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.template.loader import render_to_string
from django.utils import timezone

from campaigns import rendering
from campaigns.models import Campaign
from campaigns.services import campaign_render, sample_recipient
from delivery.headercheck import check_headers
from delivery.models import OutboxMessage
from delivery.sending_backends import connection_for

logger = logging.getLogger(__name__)


def send_test_message(*, to: str, requested_by: str) -> None:
    """Send a short message through the configured backend, to prove mail leaves.

    Runs in a worker, so a success also proves the broker and the worker are alive.
    """
    context = {"requested_by": requested_by, "backend": settings.EMAIL_BACKEND}
    message = EmailMultiAlternatives(
        subject="Crier test message",
        body=render_to_string("delivery/test_message.txt", context),
        to=[to],
        connection=get_connection(),
    )
    message.attach_alternative(render_to_string("delivery/test_message.html", context), "text/html")
    message.send()
    logger.info("test message sent", extra={"backend": settings.EMAIL_BACKEND})


TEST_SUBJECT_PREFIX = "[TEST] "


def send_campaign_test(*, campaign_id: int, to: list[str], requested_by: str) -> int:
    """Send the campaign as a sample reader to a few addresses, marked "[TEST]".

    Each address gets its own message with its address as ``subscriber.email``.
    No ``List-Unsubscribe`` header: a test address has no subscription, so there
    is no honest link to put there; the body's links lead to the public page.
    Returns the number of messages sent (0 if the campaign cannot render).
    """
    campaign = Campaign.objects.select_related("newsletter", "layout").get(pk=campaign_id)
    rendered = campaign_render(campaign=campaign)
    if not rendered.ok:
        logger.warning(
            "campaign test not sent: it does not render", extra={"campaign": campaign_id}
        )
        return 0
    newsletter = campaign.newsletter
    connection = connection_for(newsletter.pk)
    messages = []
    for address in to:
        recipient = sample_recipient(newsletter=newsletter, campaign=campaign, email=address)
        personal = rendering.personalize(rendered, recipient)
        message = EmailMultiAlternatives(
            subject=TEST_SUBJECT_PREFIX + personal.subject,
            body=personal.text,
            from_email=newsletter.sender,
            to=[address],
            reply_to=[newsletter.reply_to] if newsletter.reply_to else None,
            connection=connection,
        )
        message.attach_alternative(personal.html, "text/html")
        messages.append(check_headers(message))
    sent = connection.send_messages(messages) or 0
    logger.info(
        "campaign test sent",
        extra={"campaign": campaign_id, "recipients": sent, "requested_by": requested_by},
    )
    return sent


def outbox_prune(*, older_than: timedelta | None = None) -> int:
    """Delete outbox messages past retention so the outbox cannot grow without bound."""
    if older_than is None:
        older_than = timedelta(days=settings.OUTBOX_RETENTION_DAYS)
    deleted, _ = OutboxMessage.objects.filter(created_at__lt=timezone.now() - older_than).delete()
    if deleted:
        logger.info("outbox pruned", extra={"deleted": deleted})
    return deleted
