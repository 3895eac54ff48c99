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
    def send_messages(self, email_messages: list[EmailMessage]) -> int:
        rows = [self._row(message) for message in email_messages if message.recipients()]
        OutboxMessage.objects.bulk_create(rows)
        for row in rows:
            logger.info(
                "mail stored in outbox",
                extra={"message_id": row.message_id, "recipients": len(row.recipients)},
            )
        return len(rows)

    @staticmethod
    def _row(message: EmailMessage) -> OutboxMessage:
        mime = message.message()
        return OutboxMessage(
            from_email=message.from_email,
            recipients=message.recipients(),
            subject=message.subject,
            message_id=mime["Message-ID"] or "",
            raw=mime.as_bytes(linesep="\r\n"),
        )
