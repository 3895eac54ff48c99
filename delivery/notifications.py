"""Mail to a newsletter's owners about its campaigns."""

from django.core.mail import send_mail
from django.template.loader import render_to_string

from campaigns.models import Campaign
from newsletter.links import absolute_url
from newsletter.models import Role


def tell_owners_campaign_paused(*, campaign_id: int) -> int:
    """A campaign paused itself because too many messages failed: its owners must know."""
    campaign = Campaign.objects.select_related("newsletter").get(pk=campaign_id)
    owners = list(
        campaign.newsletter.membership_set.filter(role=Role.OWNER)
        .exclude(user__email="")
        .values_list("user__email", flat=True)
    )
    if not owners:
        return 0
    context = {
        "campaign": campaign,
        "url": absolute_url(
            "dashboard:campaign_sending", slug=campaign.newsletter.slug, pk=campaign.pk
        ),
    }
    return send_mail(
        subject=f"Crier paused “{campaign.name}”: too many messages failed",
        message=render_to_string("delivery/campaign_paused.txt", context),
        from_email=None,
        recipient_list=owners,
    )
