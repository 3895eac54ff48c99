"""A campaign's state machine: draft → scheduled → sending → sent (or paused, cancelled,
failed). Every change takes the campaign's row lock, checks the status it starts from,
and writes the new one, so two editors (or an editor and beat) cannot both start it.
Starting creates the recipients' rows (``audience.create_deliveries``) in the same
transaction and dispatches the workers once it commits.
"""

import logging
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from campaigns.models import NOT_STARTED, Campaign, Kind, Status
from campaigns.services import campaign_render, edition_problems
from campaigns.signals import campaign_sent, campaign_starting

from .audience import create_deliveries
from .errors import CampaignStateError
from .models import (
    UNFINISHED,
    Delivery,
    DeliveryStatus,
    UncertainChoice,
    UncertainSettlement,
)
from .notifications import tell_owners_campaign_not_started, tell_owners_campaign_paused

logger = logging.getLogger(__name__)

__all__ = ["CampaignStateError"]


def _locked(campaign: Campaign) -> Campaign:
    return Campaign.objects.select_for_update().select_related("newsletter").get(pk=campaign.pk)


def _locked_in(campaign: Campaign, allowed: tuple[str, ...]) -> Campaign:
    """The campaign's row, locked, if its status allows the change; otherwise why not."""
    campaign = _locked(campaign)
    if campaign.status not in allowed:
        raise CampaignStateError(f"It is {campaign.get_status_display().lower()}.")
    return campaign


def _set_status(campaign: Campaign, to: str, **fields: object) -> Campaign:
    """Write a locked campaign's new status, with the fields that change with it."""
    campaign.status = to
    for name, value in fields.items():
        setattr(campaign, name, value)
    campaign.save(update_fields=["status", *fields, "updated_at"])
    return campaign


def _transition(
    campaign: Campaign, allowed: tuple[str, ...], to: str, **fields: object
) -> Campaign:
    return _set_status(_locked_in(campaign, allowed), to, **fields)


def _check_renders(campaign: Campaign) -> None:
    """What a campaign needs before it may be scheduled or started: a newsletter that may
    send (a postal address), no render error, and at least one list that is not archived
    (archived lists get no new sends)."""
    if problems := campaign.newsletter.sending_problems():
        raise CampaignStateError(" ".join(problems))
    result = campaign_render(campaign=campaign)
    if result.errors:
        raise CampaignStateError(
            "It cannot be sent until these are fixed: "
            + "; ".join(str(problem) for problem in result.errors)
        )
    if problems := edition_problems(campaign=campaign):
        raise CampaignStateError(" ".join(problems))
    if not campaign.lists.exists() and campaign.segment_id is None:
        raise CampaignStateError("Choose at least one list to send it to.")
    if campaign.lists.exists() and not campaign.lists.active().exists():
        raise CampaignStateError(gettext("Its lists are all archived: choose a list that is not."))


@transaction.atomic
def campaign_start(*, campaign: Campaign) -> int:
    """Send now: create the recipients' rows and start the workers. Returns how many.

    A campaign that would reach nobody is refused rather than marked sent to no one:
    its lists are wrong, or their people are not confirmed yet.
    """
    campaign = _locked_in(campaign, NOT_STARTED)
    _check_renders(campaign)
    recipients = create_deliveries(campaign=campaign)
    if not recipients:
        raise CampaignStateError(
            gettext("Nobody would receive it: no one on its lists is confirmed and mailable.")
        )
    campaign_starting.send(sender=Campaign, campaign=campaign)
    _set_status(campaign, Status.SENDING, recipient_count=recipients, failure_reason="")
    transaction.on_commit(lambda: dispatch(campaign.pk))
    logger.info("campaign started", extra={"campaign": campaign.pk, "recipients": recipients})
    return recipients


def send_at_check(send_at: datetime) -> None:
    """A campaign is scheduled only for a time still to come."""
    if send_at <= timezone.now():
        raise CampaignStateError("Choose a time in the future.")


@transaction.atomic
def campaign_schedule(*, campaign: Campaign, send_at: datetime) -> Campaign:
    """Stored in the database and started by beat: no long ETA sits in the broker.

    Also reschedules (a new time, or a failed campaign once fixed). A scheduled
    campaign saved with its time unchanged stays scheduled even if that time has
    just passed: beat starts it at its next tick.
    """
    campaign = _locked_in(campaign, NOT_STARTED)
    unchanged = campaign.status == Status.SCHEDULED and campaign.send_at == send_at
    if not unchanged:
        send_at_check(send_at)
    _check_renders(campaign)
    return _set_status(campaign, Status.SCHEDULED, send_at=send_at, failure_reason="")


@transaction.atomic
def campaign_unschedule(*, campaign: Campaign) -> Campaign:
    """Back to draft (from scheduled, or from a start that failed): beat leaves it alone."""
    return _transition(
        campaign, (Status.SCHEDULED, Status.FAILED), Status.DRAFT, send_at=None, failure_reason=""
    )


# A campaign that never started; "cancelled" only counts when it was cancelled while
# scheduled, which the check for delivery rows below tells.
DELETABLE = (*NOT_STARTED, Status.CANCELLED)


def campaign_deletable(*, campaign: Campaign) -> bool:
    return campaign.status in DELETABLE and not Delivery.objects.filter(campaign=campaign).exists()


@transaction.atomic
def campaign_delete(*, campaign: Campaign) -> None:
    """Delete a campaign nothing was sent for; anything with delivery rows stays forever
    (its rows are the record of who was mailed, and its report)."""
    campaign = _locked(campaign)
    if not campaign_deletable(campaign=campaign):
        raise CampaignStateError(
            gettext("Only a campaign that never started can be deleted; this one is %(status)s.")
            % {"status": campaign.get_status_display().lower()}
        )
    campaign_id = campaign.pk
    campaign.delete()
    logger.info("campaign deleted", extra={"campaign": campaign_id})


def start_due_campaigns() -> list[int]:
    """Start each scheduled campaign whose time has come.

    One that cannot start goes to ``failed`` with the reason, and its owners are
    told by mail: beat does not try it again every tick, and nobody learns of it
    only by noticing that nothing was sent.
    """
    started = []
    due = Campaign.objects.filter(status=Status.SCHEDULED, send_at__lte=timezone.now())
    for campaign_id in due.values_list("pk", flat=True):
        try:
            if _start_scheduled(campaign_id):
                started.append(campaign_id)
        except CampaignStateError as error:
            _fail_to_start(campaign_id, str(error))
    return started


@transaction.atomic
def _start_scheduled(campaign_id: int) -> bool:
    """Start it if it is still scheduled and due under its lock: an editor may have
    unscheduled, rescheduled or deleted it since beat looked."""
    campaign = (
        Campaign.objects.select_for_update()
        .filter(pk=campaign_id, status=Status.SCHEDULED, send_at__lte=timezone.now())
        .first()
    )
    if campaign is None:
        return False
    campaign_start(campaign=campaign)
    return True


@transaction.atomic
def _fail_to_start(campaign_id: int, reason: str) -> None:
    """Mark it failed unless an editor acted in between (rescheduled, unscheduled)."""
    campaign = (
        Campaign.objects.select_for_update()
        .filter(pk=campaign_id, status=Status.SCHEDULED, send_at__lte=timezone.now())
        .first()
    )
    if campaign is None:
        return
    _set_status(campaign, Status.FAILED, failure_reason=reason)
    logger.warning(
        "scheduled campaign not started", extra={"campaign": campaign_id, "reason": reason}
    )
    transaction.on_commit(lambda: tell_owners_campaign_not_started(campaign_id=campaign_id))


@transaction.atomic
def campaign_pause(*, campaign: Campaign) -> Campaign:
    """Workers stop claiming at their next batch; rows already claimed are finished."""
    return _transition(campaign, (Status.SENDING,), Status.PAUSED)


@transaction.atomic
def campaign_resume(*, campaign: Campaign) -> Campaign:
    """Only rows still queued are sent: nothing already sent is sent again."""
    campaign = _transition(campaign, (Status.PAUSED,), Status.SENDING)
    transaction.on_commit(lambda: dispatch(campaign.pk))
    return campaign


@transaction.atomic
def campaign_cancel(*, campaign: Campaign) -> Campaign:
    campaign = _transition(
        campaign, (Status.SCHEDULED, Status.SENDING, Status.PAUSED), Status.CANCELLED
    )
    # Rows waiting for a digest not yet made leave it; one already made keeps its issue.
    Delivery.objects.filter(
        Q(status__in=(DeliveryStatus.QUEUED, DeliveryStatus.HELD))
        | Q(status=DeliveryStatus.IN_DIGEST, digest__isnull=True),
        campaign=campaign,
    ).update(status=DeliveryStatus.SKIPPED, last_error="Campaign cancelled.")
    return campaign


@transaction.atomic
def campaign_retry_failed(*, campaign: Campaign) -> int:
    """Queue the failed rows again (and only them); uncertain rows stay as they are."""
    campaign = _locked(campaign)
    if campaign.status not in (Status.SENDING, Status.PAUSED, Status.SENT):
        raise CampaignStateError(f"It is {campaign.get_status_display().lower()}.")
    retried = Delivery.objects.filter(campaign=campaign, status=DeliveryStatus.FAILED).update(
        status=DeliveryStatus.QUEUED, attempts=0, next_attempt_at=None
    )
    if retried and campaign.status == Status.SENT:
        campaign.status = Status.SENDING
        campaign.save(update_fields=["status", "updated_at"])
    if retried and campaign.status == Status.SENDING:
        transaction.on_commit(lambda: dispatch(campaign.pk))
    return retried


@transaction.atomic
def campaign_settle_uncertain(
    *,
    campaign: Campaign,
    choice: str,
    actor: str,
    user=None,
    delivery_ids: list[int] | None = None,
) -> UncertainSettlement:
    """Settle uncertain rows by an explicit choice, recorded with who, when and which rows.

    ``resend``: they go back to the queue and are sent again (so some people may get
    the campaign twice; a sent campaign starts sending again). ``count_as_sent``:
    they are counted as sent. ``delivery_ids`` picks rows; None takes all of them.
    """
    campaign = _locked(campaign)
    if choice not in UncertainChoice.values:
        raise CampaignStateError(f"Unknown choice: {choice}.")
    if campaign.status not in (Status.SENDING, Status.PAUSED, Status.SENT):
        raise CampaignStateError(f"It is {campaign.get_status_display().lower()}.")
    rows = Delivery.objects.select_for_update().filter(
        campaign=campaign, status=DeliveryStatus.UNCERTAIN
    )
    if delivery_ids is not None:
        rows = rows.filter(pk__in=delivery_ids)
    ids = sorted(rows.values_list("pk", flat=True))
    unknown = sorted(set(delivery_ids or ()) - set(ids))
    if unknown or not ids:
        raise CampaignStateError(
            "Not uncertain rows of this campaign: " + ", ".join(map(str, unknown))
            if unknown
            else "This campaign has no uncertain rows."
        )
    now = timezone.now()
    when = now.strftime("%Y-%m-%d %H:%M UTC")
    settled = Delivery.objects.filter(pk__in=ids)
    if choice == UncertainChoice.RESEND:
        settled.update(
            status=DeliveryStatus.QUEUED,
            attempts=0,
            next_attempt_at=None,
            worker="",
            last_error=f"Uncertain; queued again by {actor} on {when}.",
        )
        if campaign.status == Status.SENT:
            campaign.status = Status.SENDING
            campaign.save(update_fields=["status", "updated_at"])
        if campaign.status == Status.SENDING:
            transaction.on_commit(lambda: dispatch(campaign.pk))
    else:
        settled.update(
            status=DeliveryStatus.SENT,
            last_error=f"Uncertain; counted as sent by {actor} on {when}.",
        )
    settlement = UncertainSettlement.objects.create(
        campaign=campaign,
        choice=choice,
        delivery_ids=ids,
        decided_by=user,
        actor=actor[:255],
        decided_at=now,
    )
    logger.warning(
        "uncertain rows settled",
        extra={"campaign": campaign.pk, "choice": choice, "rows": ids, "actor": actor},
    )
    return settlement


def dispatch(campaign_id: int) -> None:
    """Start the campaign's batch tasks; each claims batches until the work is done."""
    from .tasks import send_batches

    for _ in range(settings.SEND_PARALLELISM):
        send_batches.delay(campaign_id)


def pause_for_errors(campaign_id: int) -> None:
    updated = Campaign.objects.filter(pk=campaign_id, status=Status.SENDING).update(
        status=Status.PAUSED
    )
    if updated:
        logger.error("campaign paused: too many failures", extra={"campaign": campaign_id})
        tell_owners_campaign_paused(campaign_id=campaign_id)


@transaction.atomic
def finish_if_done(campaign_id: int) -> bool:
    """Move a campaign with nothing left to send to ``sent``; announce it exactly once."""
    if Delivery.objects.filter(campaign_id=campaign_id, status__in=UNFINISHED).exists():
        return False
    # An automation step's campaign is never done: its automation keeps adding people.
    finished = Campaign.objects.filter(
        pk=campaign_id, status=Status.SENDING, kind=Kind.ISSUE
    ).update(status=Status.SENT, sent_at=timezone.now())
    if finished:
        logger.info("campaign sent", extra={"campaign": campaign_id})
        campaign = Campaign.objects.select_related("newsletter").get(pk=campaign_id)
        campaign_sent.send(sender=Campaign, campaign=campaign)
    return bool(finished)
