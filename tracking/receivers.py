"""Erasure reaches tracking: an erased contact's opens and clicks, with their IP
addresses, are deleted; the campaign's counts (which name nobody) stay."""

from django.dispatch import receiver

from subscribers.models import Subscriber
from subscribers.signals import subscriber_erased

from .models import Engagement, Event


@receiver(subscriber_erased, sender=Subscriber)
def forget_erased_contact(sender, contact: Subscriber, **kwargs) -> None:
    Event.objects.filter(subscriber_id=contact.pk).delete()
    Engagement.objects.filter(subscriber_id=contact.pk).delete()
