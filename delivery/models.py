import email
import email.policy
from email.message import EmailMessage

from django.db import models
from django.urls import reverse


class OutboxMessage(models.Model):
    """A message the built-in outbox backend "sent": kept whole, exactly as SMTP would carry it.

    The summary columns exist for listing; the raw MIME bytes are the truth.
    """

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    from_email = models.TextField()
    recipients = models.JSONField(default=list)
    subject = models.TextField(blank=True)
    message_id = models.TextField(blank=True)
    raw = models.BinaryField()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.subject or "(no subject)"

    def get_absolute_url(self) -> str:
        return reverse("dashboard:outbox_message", kwargs={"pk": self.pk})

    def parsed(self) -> EmailMessage:
        return email.message_from_bytes(bytes(self.raw), policy=email.policy.default)

    def body(self, subtype: str) -> str:
        """The decoded ``text/<subtype>`` part, or an empty string when there is none."""
        part = self.parsed().get_body(preferencelist=(subtype,))
        return part.get_content() if part is not None else ""
