"""Referrals: who subscribed through whose link, once confirmed, and thanks at milestones.

The attribution itself is in the consent ledger (``subscribers.services.subscribe``
writes ``referred_by``); ``Referral`` rows are this app's rollup of it, written by
the receivers of the ``subscribed`` and ``confirmed`` signals in the same
transaction. A referral counts once the person confirmed: a pending address that
never confirms brought nobody.
"""

from django.db import IntegrityError, transaction
from django.utils import timezone

from newsletter.models import Newsletter
from subscribers.models import Subscriber

from .. import tasks
from ..models import ParticipationSettings, Referral, ReferrerProfile
from .text import clean_line

MILESTONES = (1, 5, 25)


def referral_start(*, newsletter: Newsletter, referrer: Subscriber, referred: Subscriber) -> bool:
    """Record that ``referred`` came through ``referrer``'s link; the first link counts."""
    if referrer.pk == referred.pk:
        return False
    if Referral.objects.filter(newsletter=newsletter, referred=referred).exists():
        return False
    try:
        with transaction.atomic():
            Referral.objects.create(newsletter=newsletter, referrer=referrer, referred=referred)
    except IntegrityError:
        return False
    return True


def referral_confirm(*, newsletter: Newsletter, subscriber: Subscriber) -> Referral | None:
    """The person confirmed: their referral counts now, and its referrer may be thanked."""
    referral = (
        Referral.objects.select_for_update()
        .filter(newsletter=newsletter, referred=subscriber, confirmed_at__isnull=True)
        .first()
    )
    if referral is None:
        return None
    referral.confirmed_at = timezone.now()
    referral.save(update_fields=["confirmed_at"])
    _thank_at_milestones(newsletter, referral.referrer_id)
    return referral


def _thank_at_milestones(newsletter: Newsletter, referrer_id: int) -> None:
    wanted = ParticipationSettings.objects.filter(
        newsletter=newsletter, referral_thanks=True
    ).exists()
    if not wanted:
        return
    count = Referral.objects.filter(
        newsletter=newsletter, referrer_id=referrer_id, confirmed_at__isnull=False
    ).count()
    reached = max((milestone for milestone in MILESTONES if milestone <= count), default=0)
    profile, _ = ReferrerProfile.objects.get_or_create(
        newsletter=newsletter, subscriber_id=referrer_id
    )
    profile = ReferrerProfile.objects.select_for_update().get(pk=profile.pk)
    if reached > profile.milestone_thanked:
        profile.milestone_thanked = reached
        profile.save(update_fields=["milestone_thanked", "updated_at"])
        tasks.send_referral_thanks.delay_on_commit(profile.pk, reached)


@transaction.atomic
def referrer_profile_update(
    *, newsletter: Newsletter, subscriber: Subscriber, show_publicly: bool, display_name: str
) -> ReferrerProfile:
    """The reader's choice, from their preference center: shown among the top referrers
    (to the newsletter's editors) under the name they give, or not at all."""
    profile, _ = ReferrerProfile.objects.get_or_create(newsletter=newsletter, subscriber=subscriber)
    profile.show_publicly = show_publicly
    profile.display_name = clean_line(display_name)[:100] if show_publicly else ""
    profile.save(update_fields=["show_publicly", "display_name", "updated_at"])
    return profile


def forget_referrer(subscriber: Subscriber) -> int:
    """Erasure: the choices and name go; the referrals stay counted, tied to nobody left."""
    deleted, _ = ReferrerProfile.objects.filter(subscriber=subscriber).delete()
    return deleted
