from anymail.signals import tracking
from django.db import connection
from django.dispatch import receiver

from delivery.feedback import from_anymail, record
from delivery.models import OutboxMessage
from subscribers.models import Subscriber
from subscribers.signals import subscriber_erased


@receiver(subscriber_erased, sender=Subscriber)
def drop_outbox_copies(sender, email: str, **kwargs) -> None:
    """Erasure leaves no copy of a person's mail behind, even in the demo outbox."""
    if not email:
        return
    if connection.features.supports_json_field_contains:
        OutboxMessage.objects.filter(recipients__contains=[email]).delete()
        return
    doomed = [
        pk
        for pk, recipients in OutboxMessage.objects.values_list("pk", "recipients")
        if email in recipients
    ]
    OutboxMessage.objects.filter(pk__in=doomed).delete()


@receiver(tracking)
def record_esp_feedback(sender, event, esp_name: str, **kwargs) -> None:
    """anymail's tracking webhooks: delivered, bounced, complained, rejected, unsubscribed.

    Opens and clicks are not ours (the tracking app counts its own). An error here
    answers 500, and the ESP retries later; a retry of a recorded event is a no-op.
    """
    feedback = from_anymail(event, esp_name)
    if feedback is not None:
        record(feedback=feedback)
