"""A campaign's state machine: draft → scheduled → sending → sent (or paused, cancelled,
failed), and the one rule that says whether a campaign can be sent.

``MOVES`` is the table of allowed changes of ``Campaign.status``; this module is its
only writer (``tests/delivery/test_ledger.py`` reads the source to keep it so). Every
change takes the campaign's row lock (or updates conditionally on the "from" states),
so two editors (or an editor and beat) cannot both start it. Starting creates the
recipients' rows (``audience.create_deliveries``) in the same transaction and
dispatches the workers once it commits.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from campaigns.models import NOT_STARTED, Campaign, Kind, Status
from campaigns.services import content_problems
from campaigns.signals import campaign_sent, campaign_starting
from subscribers.models import MailingList

from . import ledger
from .audience import create_deliveries
from .errors import CampaignStateError
from .models import (
    UNFINISHED,
    Delivery,
    UncertainChoice,
    UncertainSettlement,
)
from .notifications import tell_owners_campaign_not_started, tell_owners_campaign_paused

logger = logging.getLogger(__name__)

__all__ = ["CampaignStateError"]


@dataclass(frozen=True)
class Move:
    """A campaign may go to ``to`` only from one of ``sources``."""

    sources: tuple[str, ...]
    to: str


# Rows queued again (a retry of the failed ones, uncertain ones resent) reopen a
# finished campaign; "open" is an automation step's, which sends while its automation
# runs and never finishes; "archive_unsent" is for demo data only (no mail leaves).
MOVES: dict[str, Move] = {
    "start": Move(NOT_STARTED, Status.SENDING),
    "schedule": Move(NOT_STARTED, Status.SCHEDULED),
    "unschedule": Move((Status.SCHEDULED, Status.FAILED), Status.DRAFT),
    "fail_to_start": Move((Status.SCHEDULED,), Status.FAILED),
    "pause": Move((Status.SENDING,), Status.PAUSED),
    "pause_for_errors": Move((Status.SENDING,), Status.PAUSED),
    "resume": Move((Status.PAUSED,), Status.SENDING),
    "cancel": Move((Status.SCHEDULED, Status.SENDING, Status.PAUSED), Status.CANCELLED),
    "reopen": Move((Status.SENT,), Status.SENDING),
    "finish": Move((Status.SENDING,), Status.SENT),
    "open": Move((Status.DRAFT,), Status.SENDING),
    "archive_unsent": Move((Status.DRAFT,), Status.SENT),
}
# Campaigns whose rows may still be retried or settled.
HAS_ROWS = (Status.SENDING, Status.PAUSED, Status.SENT)


def _locked(campaign: Campaign) -> Campaign:
    return Campaign.objects.select_for_update().select_related("newsletter").get(pk=campaign.pk)


def _locked_in(campaign: Campaign, allowed: tuple[str, ...]) -> Campaign:
    """The campaign's row, locked, if its status allows the change; otherwise why not."""
    campaign = _locked(campaign)
    if campaign.status not in allowed:
        raise CampaignStateError(f"It is {campaign.get_status_display().lower()}.")
    return campaign


def _set_status(campaign: Campaign, move: str, **fields: object) -> Campaign:
    """Apply a move to a locked campaign, with the fields that change with it."""
    if campaign.status not in MOVES[move].sources:
        raise CampaignStateError(f"It is {campaign.get_status_display().lower()}.")
    campaign.status = MOVES[move].to
    for name, value in fields.items():
        setattr(campaign, name, value)
    campaign.save(update_fields=["status", *fields, "updated_at"])
    return campaign


def _transition(campaign: Campaign, move: str, **fields: object) -> Campaign:
    return _set_status(_locked_in(campaign, MOVES[move].sources), move, **fields)


def _move_where(move: str, campaigns: QuerySet, **fields: object) -> int:
    """Apply a move, as one conditional UPDATE, to those of ``campaigns`` it allows."""
    return campaigns.filter(status__in=MOVES[move].sources).update(status=MOVES[move].to, **fields)


@dataclass(frozen=True)
class Sendability:
    ok: bool
    reasons: list[str]


def campaign_sendability(
    *,
    campaign: Campaign,
    list_ids: Iterable[int] | None = None,
    segment: bool | None = None,
    test: bool = False,
) -> Sendability:
    """Whether the campaign can be sent now, and if not, every reason the editor must fix:
    the one rule of the start, the schedule, the dashboard's send page, the API and
    test sends.

    It must not have started; its newsletter must be allowed to send (a postal
    address); its content must render, with every edition that goes ready
    (``campaigns.services.content_problems``); and it needs a list that is not
    archived, or a segment. ``list_ids``/``segment`` judge a choice not yet saved (the
    send page's). A test send (``test``) only needs content that renders.
    """
    if test:
        reasons = content_problems(campaign=campaign, test=True)
        return Sendability(ok=not reasons, reasons=reasons)
    reasons = _send_problems(campaign, list_ids=list_ids, segment=segment)
    if campaign.status not in MOVES["start"].sources:
        reasons.insert(0, f"It is {campaign.get_status_display().lower()}, not a draft.")
    return Sendability(ok=not reasons, reasons=reasons)


def _send_problems(
    campaign: Campaign, *, list_ids: Iterable[int] | None = None, segment: bool | None = None
) -> list[str]:
    """Everything but the status that stops the campaign from being sent."""
    reasons = content_problems(campaign=campaign, list_ids=list_ids)
    if list_ids is None:
        lists = campaign.lists.all()
    else:
        lists = MailingList.objects.filter(pk__in=list(list_ids))
    if segment is None:
        segment = campaign.segment_id is not None
    if not lists.exists() and not segment:
        reasons.append(gettext("Choose at least one list to send it to."))
    elif lists.exists() and not lists.active().exists():
        reasons.append(gettext("Its lists are all archived: choose a list that is not."))
    return reasons


def _check_sendable(campaign: Campaign) -> None:
    """Refuse a start, schedule or opening of a locked campaign, saying everything to fix
    (its status was checked by the move)."""
    if reasons := _send_problems(campaign):
        raise CampaignStateError(" ".join(reasons))


@transaction.atomic
def campaign_start(*, campaign: Campaign) -> int:
    """Send now: create the recipients' rows and start the workers. Returns how many.

    A campaign that would reach nobody is refused rather than marked sent to no one:
    its lists are wrong, or their people are not confirmed yet.
    """
    campaign = _locked_in(campaign, MOVES["start"].sources)
    _check_sendable(campaign)
    recipients = create_deliveries(campaign=campaign)
    if not recipients:
        raise CampaignStateError(
            gettext("Nobody would receive it: no one on its lists is confirmed and mailable.")
        )
    campaign_starting.send(sender=Campaign, campaign=campaign)
    _set_status(campaign, "start", recipient_count=recipients, failure_reason="")
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
    campaign = _locked_in(campaign, MOVES["schedule"].sources)
    unchanged = campaign.status == Status.SCHEDULED and campaign.send_at == send_at
    if not unchanged:
        send_at_check(send_at)
    _check_sendable(campaign)
    return _set_status(campaign, "schedule", send_at=send_at, failure_reason="")


@transaction.atomic
def campaign_unschedule(*, campaign: Campaign) -> Campaign:
    """Back to draft (from scheduled, or from a start that failed): beat leaves it alone."""
    return _transition(campaign, "unschedule", send_at=None, failure_reason="")


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
    _set_status(campaign, "fail_to_start", failure_reason=reason)
    logger.warning(
        "scheduled campaign not started", extra={"campaign": campaign_id, "reason": reason}
    )
    transaction.on_commit(lambda: tell_owners_campaign_not_started(campaign_id=campaign_id))


@transaction.atomic
def campaign_pause(*, campaign: Campaign) -> Campaign:
    """Workers stop claiming at their next batch; rows already claimed are finished."""
    return _transition(campaign, "pause")


@transaction.atomic
def campaign_resume(*, campaign: Campaign) -> Campaign:
    """Only rows still queued are sent: nothing already sent is sent again."""
    campaign = _transition(campaign, "resume")
    transaction.on_commit(lambda: dispatch(campaign.pk))
    return campaign


@transaction.atomic
def campaign_cancel(*, campaign: Campaign) -> Campaign:
    campaign = _transition(campaign, "cancel")
    ledger.cancel(campaign_id=campaign.pk)
    return campaign


@transaction.atomic
def campaign_retry_failed(*, campaign: Campaign) -> int:
    """Queue the failed rows again (and only them); uncertain rows stay as they are."""
    campaign = _locked(campaign)
    if campaign.status not in HAS_ROWS:
        raise CampaignStateError(f"It is {campaign.get_status_display().lower()}.")
    retried = ledger.retry(campaign_id=campaign.pk)
    if retried and campaign.status in MOVES["reopen"].sources:
        _set_status(campaign, "reopen")
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
    if campaign.status not in HAS_ROWS:
        raise CampaignStateError(f"It is {campaign.get_status_display().lower()}.")
    ids = ledger.uncertain_ids(campaign_id=campaign.pk, delivery_ids=delivery_ids)
    unknown = sorted(set(delivery_ids or ()) - set(ids))
    if unknown or not ids:
        raise CampaignStateError(
            "Not uncertain rows of this campaign: " + ", ".join(map(str, unknown))
            if unknown
            else "This campaign has no uncertain rows."
        )
    now = timezone.now()
    when = now.strftime("%Y-%m-%d %H:%M UTC")
    if choice == UncertainChoice.RESEND:
        ledger.resend(ids, f"Uncertain; queued again by {actor} on {when}.")
        if campaign.status in MOVES["reopen"].sources:
            _set_status(campaign, "reopen")
        if campaign.status == Status.SENDING:
            transaction.on_commit(lambda: dispatch(campaign.pk))
    else:
        ledger.count_as_sent(ids, f"Uncertain; counted as sent by {actor} on {when}.")
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
    updated = _move_where("pause_for_errors", Campaign.objects.filter(pk=campaign_id))
    if updated:
        logger.error("campaign paused: too many failures", extra={"campaign": campaign_id})
        tell_owners_campaign_paused(campaign_id=campaign_id)


@transaction.atomic
def finish_if_done(campaign_id: int) -> bool:
    """Move a campaign with nothing left to send to ``sent``; announce it exactly once."""
    if Delivery.objects.filter(campaign_id=campaign_id, status__in=UNFINISHED).exists():
        return False
    # An automation step's campaign is never done: its automation keeps adding people.
    finished = _move_where(
        "finish", Campaign.objects.filter(pk=campaign_id, kind=Kind.ISSUE), sent_at=timezone.now()
    )
    if finished:
        logger.info("campaign sent", extra={"campaign": campaign_id})
        campaign = Campaign.objects.select_related("newsletter").get(pk=campaign_id)
        campaign_sent.send(sender=Campaign, campaign=campaign)
    return bool(finished)


@transaction.atomic
def campaign_open(*, campaign: Campaign) -> Campaign:
    """An automation step's campaign starts sending to nobody: people reach it one by one
    (``delivery.ongoing``), and it never finishes while its automation runs.

    Checked like any start (the newsletter may send, the content renders, a list that
    is not archived), so a broken step is refused when its automation is activated,
    not found out when the first person reaches it.
    """
    if campaign.kind != Kind.AUTOMATION:
        raise CampaignStateError("Only an automation step's campaign is opened this way.")
    campaign = _locked_in(campaign, MOVES["open"].sources)
    _check_sendable(campaign)
    return _set_status(campaign, "open", recipient_count=0, failure_reason="")


@transaction.atomic
def campaign_archive_unsent(*, campaign: Campaign) -> Campaign:
    """Demo data only (``seed_demo``): a draft shown as sent in the archive and its feed,
    with no mail leaving and no delivery rows."""
    return _transition(campaign, "archive_unsent", sent_at=timezone.now())
