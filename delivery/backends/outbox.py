"""The built-in outbox: a Django email backend that stores each message in the database.

It is the default, so a fresh install can send (tests, demo, ``make run``) without
an ESP, and the dashboard shows exactly what would have left the server.
"""

import logging

from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.message import EmailMessage

from delivery.models import OutboxMessage

logger = logging.getLogger(__name__)


class EmailBackend(BaseEmailBackend):
    def __init__(self, *, newsletter_id: int | None = None, **kwargs) -> None:
        """``newsletter_id``: whose mail this connection carries (its copies are erased
        with that newsletter's contacts); ``transports`` passes it."""
        super().__init__(**kwargs)
        self.newsletter_id = newsletter_id

    def send_messages(self, email_messages: list[EmailMessage]) -> int:
        rows = [self._row(message) for message in email_messages if message.recipients()]
        OutboxMessage.objects.bulk_create(rows)
        for row in rows:
            logger.info(
                "mail stored in outbox",
                extra={"message_id": row.message_id, "recipients": len(row.recipients)},
            )
        return len(rows)

    def _row(self, message: EmailMessage) -> OutboxMessage:
        mime = message.message()
        return OutboxMessage(
            newsletter_id=self.newsletter_id,
            from_email=message.from_email,
            recipients=message.recipients(),
            subject=message.subject,
            message_id=mime["Message-ID"] or "",
            raw=mime.as_bytes(linesep="\r\n"),
        )
