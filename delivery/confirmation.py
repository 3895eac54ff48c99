"""The send confirmation: a campaign leaves only after its editor saw what will happen.

The send page posts a choice (lists, now or a time); the review page shows the
subject, the sender, the lists, the number of recipients and when, and carries the
choice signed for that campaign and that editor. Only a signed choice younger than
``MAX_AGE`` starts or schedules the campaign, so no request skips the review: not a
form posted by a script, not a stale tab, not a click on a disabled button.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core import signing
from django.db import transaction
from django.utils.translation import gettext

from campaigns.models import Campaign
from campaigns.services import campaign_set_lists, campaign_update

from . import lifecycle

SALT = "crier.delivery.send-confirmation"
MAX_AGE = timedelta(minutes=30)


class InvalidConfirmation(Exception):
    """Tampered, expired, or signed for another campaign or another editor."""


@dataclass(frozen=True)
class SendPlan:
    """What the editor chose: the lists, a segment narrowing them (every list when
    there is no list), a time (None: now), and an hour of each reader's own day to
    deliver at (None: at once)."""

    list_ids: tuple[int, ...]
    send_at: datetime | None = None
    segment_id: int | None = None
    local_hour: int | None = None


def send_plan_sign(*, campaign: Campaign, plan: SendPlan, user) -> str:
    return signing.dumps(
        {
            "campaign": campaign.pk,
            "user": user.pk,
            "lists": list(plan.list_ids),
            "segment": plan.segment_id,
            "send_at": plan.send_at.isoformat() if plan.send_at else None,
            "local_hour": plan.local_hour,
        },
        salt=SALT,
    )


def send_plan_read(token: str, *, campaign: Campaign, user) -> SendPlan:
    """The plan the editor confirmed; raises InvalidConfirmation for anything else."""
    try:
        data = signing.loads(token, salt=SALT, max_age=MAX_AGE)
    except signing.BadSignature:
        raise InvalidConfirmation from None
    if data.get("campaign") != campaign.pk or data.get("user") != user.pk:
        raise InvalidConfirmation
    send_at = datetime.fromisoformat(data["send_at"]) if data.get("send_at") else None
    return SendPlan(
        list_ids=tuple(data["lists"]),
        send_at=send_at,
        segment_id=data.get("segment"),
        local_hour=data.get("local_hour"),
    )


@transaction.atomic
def send_plan_carry_out(*, campaign: Campaign, plan: SendPlan) -> int | None:
    """Give the campaign its lists and segment, then start it (returns the recipients)
    or schedule it (returns None); all or nothing. The engine checks the campaign's state."""
    lists = campaign.newsletter.lists.active().filter(pk__in=plan.list_ids)
    segment = campaign.newsletter.segments.filter(pk=plan.segment_id).first()
    if plan.segment_id is not None and segment is None:
        raise lifecycle.CampaignStateError(gettext("Its segment was deleted: review it again."))
    campaign_set_lists(campaign=campaign, lists=list(lists), segment=segment)
    if campaign.local_hour != plan.local_hour:
        campaign = campaign_update(campaign=campaign, local_hour=plan.local_hour)
    if plan.send_at is None:
        return lifecycle.campaign_start(campaign=campaign)
    lifecycle.campaign_schedule(campaign=campaign, send_at=plan.send_at)
    return None
