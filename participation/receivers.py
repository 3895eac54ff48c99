"""What participation does when other apps announce something (in their transaction:
receivers only write rows; mail goes out through tasks queued after the commit)."""

from django.dispatch import receiver

from campaigns.models import Campaign
from campaigns.signals import campaign_sent
from subscribers import signals as subscriber_signals

from .services import calls, referrals


@receiver(subscriber_signals.subscribed)
def referral_started(sender, *, subscriber, newsletter, referrer=None, **kwargs) -> None:
    if referrer is not None:
        referrals.referral_start(newsletter=newsletter, referrer=referrer, referred=subscriber)


@receiver(subscriber_signals.confirmed)
def referral_confirmed(sender, *, subscriber, newsletter, **kwargs) -> None:
    referrals.referral_confirm(newsletter=newsletter, subscriber=subscriber)


@receiver(campaign_sent, sender=Campaign)
def contributions_published(sender, *, campaign: Campaign, **kwargs) -> None:
    calls.contributions_publish(campaign=campaign)
