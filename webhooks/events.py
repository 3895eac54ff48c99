"""The events a newsletter can send to its webhook endpoints, and what each carries."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Event(models.TextChoices):
    SUBSCRIBED = "subscriber.subscribed", _("Subscribed (before confirmation)")
    CONFIRMED = "subscriber.confirmed", _("Confirmed a subscription")
    UNSUBSCRIBED = "subscriber.unsubscribed", _("Unsubscribed")
    BOUNCED = "subscriber.bounced", _("Mail bounced")
    COMPLAINED = "subscriber.complained", _("Marked mail as spam")
    CAMPAIGN_SENT = "campaign.sent", _("Campaign sent")
    PING = "ping", _("Test event")


# What an endpoint may subscribe to; ``ping`` is only ever sent on request.
SUBSCRIBABLE = [event for event in Event if event != Event.PING]
