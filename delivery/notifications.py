"""Mail to a newsletter's owners about its campaigns: what went wrong, and where to fix it.

It is the instance's own mail (from ``DEFAULT_FROM_EMAIL``, through ``EMAIL_BACKEND``),
not the newsletter's: the newsletter's sending backend may be what failed."""

import logging

from django.template.loader import render_to_string

from campaigns.models import Campaign
from newsletter.links import absolute_url
from newsletter.mail import SystemMessage
from newsletter.models import Role

from . import system_mail

logger = logging.getLogger(__name__)


def _owners(campaign: Campaign) -> list[str]:
    return list(
        campaign.newsletter.membership_set.filter(role=Role.OWNER)
        .exclude(user__email="")
        .values_list("user__email", flat=True)
    )


def tell_owners_campaign_paused(*, campaign_id: int) -> int:
    """A campaign paused itself because too many messages failed: its owners must know."""
    campaign = Campaign.objects.select_related("newsletter").get(pk=campaign_id)
    owners = _owners(campaign)
    if not owners:
        return 0
    context = {
        "campaign": campaign,
        "url": absolute_url(
            "dashboard:campaign_sending", slug=campaign.newsletter.slug, pk=campaign.pk
        ),
    }
    return system_mail.send(
        SystemMessage(
            to=tuple(owners),
            subject=f"Crier paused “{campaign.name}”: too many messages failed",
            text=render_to_string("delivery/campaign_paused.txt", context),
        )
    )


def tell_owners_campaign_not_started(*, campaign_id: int) -> int:
    """A scheduled campaign could not start: its owners learn why, and where to fix it.

    Called after the failure is committed; a mail that cannot leave is logged, not
    raised, because the campaign's page shows the failure whatever happens here.
    """
    campaign = Campaign.objects.select_related("newsletter").get(pk=campaign_id)
    owners = _owners(campaign)
    if not owners:
        return 0
    context = {
        "campaign": campaign,
        "url": absolute_url(
            "dashboard:campaign_preview", slug=campaign.newsletter.slug, pk=campaign.pk
        ),
    }
    try:
        return system_mail.send(
            SystemMessage(
                to=tuple(owners),
                subject=f"Crier could not send “{campaign.name}” at its scheduled time",
                text=render_to_string("delivery/campaign_not_started.txt", context),
            )
        )
    except Exception:  # the failure is on the campaign's page; the mail is a courtesy
        logger.exception("owners not told of a campaign that could not start")
        return 0
