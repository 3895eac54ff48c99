"""The sample is drawn inside the engine's start, in its transaction and under its lock."""

from django.dispatch import receiver

from campaigns.models import Campaign
from campaigns.signals import campaign_starting

from . import services


@receiver(campaign_starting, sender=Campaign)
def sample_drawn(sender, *, campaign: Campaign, **kwargs) -> None:
    services.experiment_start(campaign=campaign)
