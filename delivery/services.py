"""Sending that is not a campaign: test messages and outbox housekeeping."""

import logging
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.template.loader import render_to_string
from django.utils import timezone

from delivery.models import OutboxMessage

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


def outbox_prune(*, older_than: timedelta | None = None) -> int:
    """Delete outbox messages past retention so the outbox cannot grow without bound."""
    if older_than is None:
        older_than = timedelta(days=settings.OUTBOX_RETENTION_DAYS)
    deleted, _ = OutboxMessage.objects.filter(created_at__lt=timezone.now() - older_than).delete()
    if deleted:
        logger.info("outbox pruned", extra={"deleted": deleted})
    return deleted
