from django.db import connection
from django.dispatch import receiver

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
