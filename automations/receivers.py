"""What automations do when subscribers announce something (in their transaction:
receivers only write rows; the first step runs in a task queued after the commit)."""

from django.dispatch import receiver

from subscribers import signals as subscriber_signals

from . import services


@receiver(subscriber_signals.confirmed)
def welcome(sender, *, subscriber, newsletter, lists, **kwargs) -> None:
    services.enrol_confirmed(subscriber=subscriber, newsletter=newsletter, lists=lists)
