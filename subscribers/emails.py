"""The mail the subscribers app sends itself: the double opt-in confirmation."""

import logging

from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import translation

from delivery.sending_backends import connection_for
from newsletter.links import absolute_url
from newsletter.models import Newsletter

from . import tokens
from .models import Subscriber, SubscriptionStatus

logger = logging.getLogger(__name__)


def send_confirmation(*, subscriber_id: int, newsletter_id: int) -> bool:
    """Send the confirmation link if there is still something to confirm.

    Re-checked here because the task may run late or twice (acks_late).
    """
    subscriber = Subscriber.objects.filter(pk=subscriber_id, email__isnull=False).first()
    newsletter = Newsletter.objects.get(pk=newsletter_id)
    if subscriber is None:
        return False
    pending = list(
        subscriber.subscriptions.filter(
            mailing_list__newsletter=newsletter, status=SubscriptionStatus.PENDING
        ).select_related("mailing_list")
    )
    if not pending:
        return False
    claim = tokens.Claim(subscriber.pk, newsletter.pk)
    context = {
        "newsletter": newsletter,
        "subscriber": subscriber,
        "lists": [subscription.mailing_list for subscription in pending],
        "confirm_url": absolute_url("subscribers:confirm", token=tokens.confirm_token(claim)),
        "expiry_days": tokens.CONFIRM_MAX_AGE.days,
    }
    with translation.override(subscriber.language or newsletter.language):
        subject = render_to_string("subscribers/email/confirm_subject.txt", context).strip()
        text = render_to_string("subscribers/email/confirm.txt", context)
        html = render_to_string("subscribers/email/confirm.html", context)
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=newsletter.sender,
        to=[subscriber.email],
        reply_to=[newsletter.reply_to] if newsletter.reply_to else None,
        headers={"Auto-Submitted": "auto-generated"},
        connection=connection_for(newsletter.pk),
    )
    message.attach_alternative(html, "text/html")
    message.send()
    logger.info("confirmation mail sent", extra={"subscriber": subscriber.pk})
    return True
