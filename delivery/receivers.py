from anymail.signals import tracking
from django.db import connection
from django.dispatch import receiver

from delivery.feedback import from_anymail, record
from delivery.models import Delivery, DeliveryEvent, OutboxMessage
from subscribers.models import Subscriber
from subscribers.signals import subscriber_erased


@receiver(subscriber_erased, sender=Subscriber)
def forget_erased_contact(sender, contact: Subscriber, email: str, everywhere: bool, **kwargs):
    """Erasure leaves nothing here that quotes the person: the contact's delivery errors
    and feedback details (receiving servers quote the address), and the newsletter's
    outbox copies of mail to them (all copies, for the person's own "erase me")."""
    deliveries = Delivery.objects.filter(subscriber_id=contact.pk)
    deliveries.exclude(last_error="").update(last_error="")
    DeliveryEvent.objects.filter(delivery__in=deliveries).exclude(detail="").update(detail="")
    if not email:
        return
    copies = OutboxMessage.objects.all()
    if not everywhere:
        copies = copies.filter(newsletter_id=contact.newsletter_id)
    if connection.features.supports_json_field_contains:
        copies.filter(recipients__contains=[email]).delete()
        return
    doomed = [
        pk for pk, recipients in copies.values_list("pk", "recipients") if email in recipients
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
