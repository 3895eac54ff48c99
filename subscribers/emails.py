"""The mail the subscribers app sends itself: the double opt-in confirmation, and the
link to a person's own data."""

import logging

from django.template.loader import render_to_string
from django.utils import translation

from newsletter import mail
from newsletter.links import absolute_url
from newsletter.models import Newsletter

from . import tokens
from .models import Subscriber, SubscriptionStatus

logger = logging.getLogger(__name__)


def send_confirmation(
    *, subscriber_id: int, newsletter_id: int, name: str = "", tracking: str = ""
) -> bool:
    """Send the confirmation link if there is still something to confirm.

    Re-checked here because the task may run late or twice (acks_late). ``name`` is
    the one the person gave with this request: the mail greets them with it, and the
    link carries it to their contact once they confirm, with their tracking choice.
    """
    subscriber = Subscriber.objects.filter(
        pk=subscriber_id, newsletter_id=newsletter_id, email__isnull=False
    ).first()
    newsletter = Newsletter.objects.get(pk=newsletter_id)
    if subscriber is None:
        return False
    pending = list(
        subscriber.subscriptions.filter(status=SubscriptionStatus.PENDING).select_related(
            "mailing_list"
        )
    )
    if not pending:
        return False
    claim = tokens.Claim(subscriber.pk, newsletter.pk, name=name, tracking=tracking)
    context = {
        "newsletter": newsletter,
        "subscriber": subscriber,
        "name": name or subscriber.name,
        "lists": [subscription.mailing_list for subscription in pending],
        "confirm_url": absolute_url("subscribers:confirm", token=tokens.confirm_token(claim)),
        "expiry_days": tokens.CONFIRM_MAX_AGE.days,
    }
    _send(subscriber, newsletter, "confirm", context)
    logger.info("confirmation mail sent", extra={"subscriber": subscriber.pk})
    return True


def send_data_link(*, subscriber_id: int) -> bool:
    """Send the person the short-lived link to their data on this instance."""
    subscriber = (
        Subscriber.objects.filter(pk=subscriber_id, email__isnull=False)
        .select_related("newsletter")
        .first()
    )
    if subscriber is None:
        return False
    newsletter = subscriber.newsletter
    claim = tokens.Claim(subscriber.pk, newsletter.pk)
    context = {
        "newsletter": newsletter,
        "subscriber": subscriber,
        "name": subscriber.name,
        "data_url": absolute_url("subscribers:data", token=tokens.data_token(claim)),
        "expiry_minutes": int(tokens.DATA_MAX_AGE.total_seconds() // 60),
    }
    _send(subscriber, newsletter, "data_link", context)
    logger.info("data link sent", extra={"subscriber": subscriber.pk})
    return True


def _send(subscriber: Subscriber, newsletter: Newsletter, template: str, context: dict) -> None:
    with translation.override(subscriber.language or newsletter.language):
        subject = render_to_string(f"subscribers/email/{template}_subject.txt", context).strip()
        text = render_to_string(f"subscribers/email/{template}.txt", context)
        html = render_to_string(f"subscribers/email/{template}.html", context)
    mail.send(
        mail.SystemMessage(
            to=(subscriber.email,), subject=subject, text=text, html=html, newsletter=newsletter
        )
    )
