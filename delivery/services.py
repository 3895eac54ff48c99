"""Sending outside the campaign engine: test messages, campaign test sends, outbox housekeeping."""

import logging
from datetime import timedelta

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone

from campaigns import rendering
from campaigns.models import Campaign
from campaigns.services import campaign_render, sample_recipient
from delivery import lifecycle, system_mail, test_mail
from delivery.models import OutboxMessage
from delivery.transports import connection_for
from newsletter.mail import SystemMessage

logger = logging.getLogger(__name__)


def send_test_message(*, to: str, requested_by: str) -> None:
    """Send a short message through the configured backend, to prove mail leaves.

    Runs in a worker, so a success also proves the broker and the worker are alive.
    """
    context = {"requested_by": requested_by, "backend": settings.EMAIL_BACKEND}
    system_mail.send(
        SystemMessage(
            to=(to,),
            subject="Crier test message",
            text=render_to_string("delivery/test_message.txt", context),
            html=render_to_string("delivery/test_message.html", context),
        )
    )
    logger.info("test message sent", extra={"backend": settings.EMAIL_BACKEND})


TEST_SUBJECT_PREFIX = "[TEST] "


class CampaignNotTestable(test_mail.TestMailRefused):
    """The campaign's content does not render; the message lists why."""

    field = "body"


def campaign_test_request(*, campaign: Campaign, to: list[str], user, requested_by: str) -> None:
    """Queue a "[TEST]" copy of the campaign to a few addresses: only content that
    renders (``lifecycle.campaign_sendability``, the rule for tests), within the member's
    allowance (``test_mail.allow`` raises ``TestMailRefused``). The dashboard and the
    API both come here."""
    from .tasks import send_campaign_test

    verdict = lifecycle.campaign_sendability(campaign=campaign, test=True)
    if not verdict.ok:
        raise CampaignNotTestable("; ".join(verdict.reasons))
    test_mail.allow(user_id=user.pk, newsletter_id=campaign.newsletter_id, addresses=to)
    send_campaign_test.delay_on_commit(campaign.pk, to, requested_by)


def send_campaign_test(*, campaign_id: int, to: list[str], requested_by: str) -> int:
    """Send the campaign as a sample reader to a few addresses, marked "[TEST]".

    Each address gets its own message with its address as ``subscriber.email``. A
    test address has no subscription, so ``List-Unsubscribe`` stops test mail from
    this newsletter to that address (``test_mail``); an address that used it is
    skipped. The body's links lead to the public page.
    Returns the number of messages sent (0 if the campaign cannot render).
    """
    campaign = Campaign.objects.select_related("newsletter", "layout").get(pk=campaign_id)
    if not lifecycle.campaign_sendability(campaign=campaign, test=True).ok:
        logger.warning(
            "campaign test not sent: it does not render", extra={"campaign": campaign_id}
        )
        return 0
    rendered = campaign_render(campaign=campaign)
    newsletter = campaign.newsletter
    refused = test_mail.refused_addresses(newsletter.pk, to)
    connection = connection_for(newsletter.pk)
    messages = []
    for address in to:
        if address in refused:
            continue
        recipient = sample_recipient(newsletter=newsletter, campaign=campaign, email=address)
        personal = rendering.personalize(rendered, recipient)
        message = SystemMessage(
            to=(address,),
            subject=TEST_SUBJECT_PREFIX + personal.subject,
            text=personal.text,
            html=personal.html,
            newsletter=newsletter,
            headers=test_mail.unsubscribe_headers(newsletter.pk, address),
        )
        messages.append(system_mail.build(message, connection=connection))
    sent = (connection.send_messages(messages) or 0) if messages else 0
    logger.info(
        "campaign test sent",
        extra={
            "campaign": campaign_id,
            "recipients": sent,
            "refused": len(refused),
            "requested_by": requested_by,
        },
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
