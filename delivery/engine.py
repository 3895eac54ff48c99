"""Campaign sending: the per-recipient ledger, batches claimed under a lease, and the
state machine that makes every recipient get one message, even when workers die.

PostgreSQL is the source of truth. A worker claims a batch of queued rows with
``FOR UPDATE SKIP LOCKED`` (so any number of workers share a campaign), marks
each row ``in_flight`` in its own commit just before handing it to the server,
and ``sent`` right after. A worker that dies leaves ``claimed`` rows (never
handed over: the sweeper requeues them) and at most one ``in_flight`` row (the
sweeper marks it ``uncertain``, never resends it). Redis only carries task ids.
"""

import hashlib
import logging
import random
import smtplib
import socket
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import requests
from anymail.exceptions import AnymailAPIError, AnymailRecipientsRefused
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.mail.backends.smtp import EmailBackend as SMTPBackend
from django.db import connection, transaction
from django.db.models import Count, F, Q
from django.db.utils import InterfaceError, OperationalError
from django.utils import timezone
from django.utils.translation import gettext
from urllib3.exceptions import NewConnectionError

from audiences.rules import Compiled
from audiences.services import segment_compile
from campaigns.models import NOT_STARTED, Campaign, Kind, Status
from campaigns.services import (
    campaign_render,
    campaign_variant,
    campaign_variants,
    edition_problems,
    editions_to_send,
)
from campaigns.signals import campaign_sent, campaign_starting
from newsletter.encryption import DecryptionError
from subscribers.models import (
    MailFormat,
    MailingList,
    Subscriber,
    SubscriptionStatus,
)

from . import feedback, sending_backends, timing
from .messages import Addressee, CampaignMessages, MergeTemplate, send_raw
from .models import (
    UNFINISHED,
    BounceType,
    Delivery,
    DeliveryStatus,
    FeedbackKind,
    UncertainChoice,
    UncertainSettlement,
)
from .notifications import tell_owners_campaign_not_started, tell_owners_campaign_paused
from .selectors import sending_started_at
from .sending_backends import Transport
from .throttle import Rate, Throttle

logger = logging.getLogger(__name__)

TASK_BUDGET = timedelta(seconds=50)
# A spent quota with room again within this many seconds is waited for; a longer wait
# puts the rows back in the queue with a time (capped, so a quota raised in the
# dashboard takes effect soon).
QUOTA_SLEEP_SECONDS = 5
QUOTA_DEFER_MAX = timedelta(minutes=15)
MIN_ATTEMPTS_FOR_ERROR_RATE = 50


class CampaignStateError(Exception):
    """The campaign is not in a state that allows this; the message says why."""


# The audience, in one statement


# Who receives a campaign, as one rule in SQL: confirmed on any of its lists, active,
# not paused, not suppressed in the contact's newsletter nor on the whole instance (two
# probes, one per partial unique index of the suppressions). Used to count (before
# sending) and to insert (when sending).
AUDIENCE_SELECT = """
SELECT s.id, s.time_zone
FROM subscribers_subscriber s
WHERE s.status = 'active'
  AND s.email IS NOT NULL
  AND NOT s.paused_indefinitely
  AND (s.paused_until IS NULL OR s.paused_until <= %(now)s)
  AND EXISTS (
      SELECT 1 FROM subscribers_subscription sub
      WHERE sub.subscriber_id = s.id AND sub.status = 'confirmed'
        AND sub.mailing_list_id = ANY(%(lists)s))
  AND NOT EXISTS (
      SELECT 1 FROM subscribers_suppression sp
      WHERE sp.email_digest = s.email_digest AND sp.newsletter_id IS NULL)
  AND NOT EXISTS (
      SELECT 1 FROM subscribers_suppression sp
      WHERE sp.email_digest = s.email_digest AND sp.newsletter_id = s.newsletter_id)
"""
READER_LANGUAGE = "lower(replace(trim(s.language), '_', '-')) AS reader_language"
# Each row records the edition its reader gets, by the rule of campaigns.editions
# (exact language, else its first part, else the campaign itself): the CASE keeps the
# lookup away from campaigns without editions.
EDITION = """
    CASE WHEN cardinality(%(editions)s::text[]) = 0 THEN %(default)s ELSE COALESCE(
        (SELECT e FROM unnest(%(editions)s::text[]) e
         WHERE e = audience.reader_language
            OR e = split_part(audience.reader_language, '-', 1)
         ORDER BY length(e) DESC LIMIT 1),
        %(default)s) END"""
# ``{audience}`` is ``audience_sql``'s statement with the reader's language (and time
# zone) beside each id.
INSERT_DELIVERIES = (
    """
INSERT INTO delivery_delivery
    (campaign_id, subscriber_id, status, attempts, last_error, esp_message_id, worker,
     created_at, edition)
SELECT %(campaign)s, audience.id, 'queued', 0, '', '', '', %(now)s,"""
    + EDITION
    + """
FROM ({audience}) audience
ORDER BY audience.id
"""
)
# The same, when someone on the lists reads them in a digest or the campaign goes at a
# local hour: each row's timing from its reader's frequency and time zone
# (delivery/timing.py). Kept apart so that the common campaign pays for neither.
INSERT_TIMED_DELIVERIES = f"""
INSERT INTO delivery_delivery
    (campaign_id, subscriber_id, status, attempts, last_error, esp_message_id, worker,
     created_at, next_attempt_at, digest_due_at, edition)
SELECT %(campaign)s, audience.id,
       CASE WHEN audience.rank = 0 THEN 'queued' ELSE 'in_digest' END,
       0, '', '', '', %(now)s,
       CASE WHEN audience.rank = 0 THEN zone.hour_at END,
       CASE audience.rank WHEN 1 THEN zone.week_end WHEN 2 THEN zone.month_end END,{EDITION}
FROM (
    SELECT a.id, a.reader_language, COALESCE(NULLIF(a.time_zone, ''), %(zone)s) AS zone_name,
           (SELECT MIN({timing.FREQUENCY_RANK_SQL})
            FROM subscribers_subscription sub
            WHERE sub.subscriber_id = a.id AND sub.status = 'confirmed'
              AND sub.mailing_list_id = ANY(%(lists)s)) AS rank
    FROM ({{audience}}) a
) audience
LEFT JOIN unnest(%(zones)s::text[], %(hour_at)s::timestamptz[], %(week_end)s::timestamptz[],
                 %(month_end)s::timestamptz[]) AS zone(name, hour_at, week_end, month_end)
    ON zone.name = audience.zone_name
ORDER BY audience.id
"""  # noqa: S608 (constant SQL; every value is a bound parameter)


def audience_sql(*, list_ids: Iterable[int], segment: Compiled | None = None) -> tuple[str, dict]:
    """The send path's audience, the one place it is built: ``AUDIENCE_SELECT`` over these
    lists, narrowed by a compiled segment (``audiences.rules``), as SQL and its named
    parameters. Counting (``audience_count``), inserting (``create_deliveries``) and
    re-checking (``eligible``) all use it, so the count shown is the count sent; the
    segment is ANDed on, so no rule can switch the consent rules off."""
    params = {"lists": list(list_ids), "now": timezone.now()}
    if segment is None:
        return AUDIENCE_SELECT, params
    return f"{AUDIENCE_SELECT}  AND ({segment.sql})\n", {**segment.params, **params}


def audience_lists(*, newsletter_id: int, chosen: Iterable[int], segment: bool) -> list[int]:
    """The lists an audience draws from: the newsletter's active lists among ``chosen``,
    or all of its active lists when a segment is chosen with no list (the segment alone
    says who). Archived lists get no new sends."""
    lists = MailingList.objects.active().filter(newsletter_id=newsletter_id)
    chosen = list(chosen)
    if chosen or not segment:
        lists = lists.filter(pk__in=chosen)
    return list(lists.values_list("pk", flat=True))


def _campaign_lists(campaign: Campaign) -> list[int]:
    return audience_lists(
        newsletter_id=campaign.newsletter_id,
        chosen=campaign.lists.values_list("pk", flat=True),
        segment=campaign.segment_id is not None,
    )


def campaign_audience(campaign: Campaign) -> tuple[list[int], Compiled | None]:
    """Who a campaign goes to: its lists (``_campaign_lists``) and its segment compiled
    now. Raises CampaignStateError naming what broke in a segment since it was saved."""
    if campaign.segment_id is None:
        return _campaign_lists(campaign), None
    try:
        compiled = segment_compile(segment=campaign.segment)
    except ValidationError as error:
        problems = "; ".join(
            f"{part}: {' '.join(messages)}" for part, messages in error.message_dict.items()
        )
        raise CampaignStateError(
            gettext("Its segment %(name)s cannot be used: %(problems)s")
            % {"name": campaign.segment.name, "problems": problems}
        ) from None
    return _campaign_lists(campaign), compiled


AUDIENCE_COUNT_SECONDS = 30


def audience_count(*, list_ids: Iterable[int], segment: Compiled | None = None) -> int:
    """How many people these lists (narrowed by ``segment``) would reach if a campaign
    were sent to them now.

    Counting a million subscribers takes a noticeable fraction of a second, and the
    send page asks again at each tick of a list, so a count is reused for
    AUDIENCE_COUNT_SECONDS; the exact number is fixed when sending starts.
    """
    list_ids = sorted(set(list_ids))
    key = "delivery:audience:" + ",".join(map(str, list_ids))
    if segment is not None:
        digest = hashlib.sha256(repr((segment.sql, sorted(segment.params.items()))).encode())
        key += ":" + digest.hexdigest()
    count = cache.get(key)
    if count is None:
        sql, params = audience_sql(list_ids=list_ids, segment=segment)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM ({sql}) audience", params)  # noqa: S608
            count = cursor.fetchone()[0]
        cache.set(key, count, timeout=AUDIENCE_COUNT_SECONDS)
    return count


def segment_audience_count(*, newsletter_id: int, segment: Compiled) -> int:
    """How many people a campaign with this segment and no list would reach now: the
    segment builder's and the API's "can be mailed" count."""
    lists = audience_lists(newsletter_id=newsletter_id, chosen=(), segment=True)
    return audience_count(list_ids=lists, segment=segment)


def create_deliveries(*, campaign: Campaign) -> int:
    """One row per person in the audience, in one statement; a person on several lists once.

    Inserted in subscriber order, so both indexes grow at their right edge. Called
    once per campaign under its row lock; the unique constraint makes a second call
    fail rather than duplicate anything. Archived lists are left out: they get no new
    sends. Only the campaign's own newsletter's lists: whatever a campaign names, it
    never reaches another newsletter's contacts.
    """
    list_ids, segment = campaign_audience(campaign)
    sql, params = audience_sql(list_ids=list_ids, segment=segment)
    insert = INSERT_DELIVERIES
    if campaign.local_hour is not None or timing.digest_readers_on(params["lists"]):
        insert = INSERT_TIMED_DELIVERIES
        params.update(
            timing.zone_table(now=params["now"], local_hour=campaign.local_hour),
            zone=campaign.newsletter.timezone,
        )
    with connection.cursor() as cursor:
        editions = {
            "editions": editions_to_send(campaign=campaign),
            "default": campaign.newsletter.language,
        }
        # Constant SQL around a compiled segment; every value is a bound parameter.
        audience = sql.replace("SELECT s.id", f"SELECT s.id, {READER_LANGUAGE}", 1)
        cursor.execute(
            insert.format(audience=audience),
            {**params, **editions, "campaign": campaign.pk},
        )
        return cursor.rowcount


# The audience's people among some ids, each with the first of the lists they are on.
ELIGIBLE = """
SELECT DISTINCT ON (sub.subscriber_id) sub.subscriber_id, ml.name, ml.id
FROM ({audience}) audience
JOIN subscribers_subscription sub ON sub.subscriber_id = audience.id
JOIN subscribers_mailinglist ml ON ml.id = sub.mailing_list_id
WHERE audience.id = ANY(%(ids)s) AND sub.status = %(confirmed)s
  AND sub.mailing_list_id = ANY(%(lists)s)
ORDER BY sub.subscriber_id, ml.name
"""


def eligible(subscriber_ids: Iterable[int], campaign: Campaign) -> dict[int, tuple[str, int]]:
    """Of these subscribers, those who may still receive the campaign now, with the name
    and id of the first campaign list they are on (the ``{{ list.name }}`` merge tag, and
    the list the unsubscribe page offers to leave). Someone who left the campaign's
    segment since it started is no longer eligible either."""
    try:
        list_ids, segment = campaign_audience(campaign)
    except CampaignStateError:
        # Broken after its rows were written (an admin's edit): the segment chose its
        # people at the start; consent is still checked below.
        logger.warning("segment not rechecked", extra={"campaign": campaign.pk})
        list_ids, segment = _campaign_lists(campaign), None
    sql, params = audience_sql(list_ids=list_ids, segment=segment)
    with connection.cursor() as cursor:
        cursor.execute(
            ELIGIBLE.format(audience=sql),
            {**params, "ids": list(subscriber_ids), "confirmed": SubscriptionStatus.CONFIRMED},
        )
        return {subscriber_id: (name, list_id) for subscriber_id, name, list_id in cursor}


# Lifecycle


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


UNCERTAIN_SHOWN = 500


def uncertain_rows(campaign: Campaign) -> list[Delivery]:
    """The campaign's uncertain rows (at most one per worker that died mid-send, or an
    ESP call whose answer was lost), with their subscriber, oldest first."""
    return list(
        Delivery.objects.filter(campaign=campaign, status=DeliveryStatus.UNCERTAIN)
        .select_related("subscriber")
        .order_by("id")[:UNCERTAIN_SHOWN]
    )


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


# Claims and sending


def claim(*, campaign_id: int, size: int, worker: str) -> list[tuple[int, int]]:
    """Lease up to ``size`` queued rows to this worker; other workers skip them."""
    now = timezone.now()
    with transaction.atomic():
        rows = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(campaign_id=campaign_id, status=DeliveryStatus.QUEUED)
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
            .order_by("id")
            .values_list("id", "subscriber_id")[:size]
        )
        if rows:
            Delivery.objects.filter(id__in=[row[0] for row in rows]).update(
                status=DeliveryStatus.CLAIMED,
                worker=worker,
                lease_until=now + _lease(),
                attempts=F("attempts") + 1,
            )
    return rows


def send_batches(*, campaign_id: int, task_id: str = "") -> bool:
    """Claim and send batches for a while; return True if work remains (the task re-queues).

    Every claim re-reads the campaign's status, so a pause takes effect within a batch.
    """
    worker = f"{socket.gethostname()}:{task_id or uuid.uuid4().hex}"
    deadline = timezone.now() + TASK_BUDGET
    throttle = Throttle()
    outcomes = Outcomes()
    messages: CampaignMessages | None = None
    transport: Transport | None = None
    while timezone.now() < deadline:
        # The status every batch; the cached render (tens of KB) only when it is rebuilt.
        campaign = (
            Campaign.objects.select_related("newsletter")
            .defer("rendered_subject", "rendered_html", "rendered_text")
            .get(pk=campaign_id)
        )
        if campaign.status != Status.SENDING:
            return False
        if transport is None:
            try:
                transport = sending_backends.transport_for(campaign.newsletter_id)
            except DecryptionError:
                logger.exception("sending backend unreadable", extra={"campaign": campaign_id})
                _pause_for_errors(campaign_id)
                return False
        rows = claim(campaign_id=campaign_id, size=_batch_size(transport), worker=worker)
        if not rows:
            _finish_if_done(campaign_id)
            return False
        if messages is None or messages.rendered.digest != campaign.rendered_digest:
            messages = CampaignMessages(campaign, campaign_render(campaign=campaign))
            variants: dict[str, CampaignMessages] = {"": messages}
            experiment = bool(campaign_variants(campaign=campaign))
        for label, group in _by_variant(rows, experiment).items():
            if label not in variants:
                copy, rendered = campaign_variant(campaign=campaign, label=label)
                variants[label] = CampaignMessages(copy, rendered, sample_variant=label)
            pace = Pace(throttle, transport)
            within_quota = _send_batch(variants[label], group, worker, pace, outcomes)
            if outcomes.too_many_failures():
                _pause_for_errors(campaign_id)
                return False
            if not within_quota:
                _release([row[0] for row in rows], worker)  # the other variants' rows
                return False  # the rest waits, queued with a time; the sweeper re-dispatches
    return True


def _by_variant(rows: list[tuple[int, int]], experiment: bool) -> dict[str, list[tuple[int, int]]]:
    """A batch's rows by experiment variant ("" for everyone outside the sample): each
    group is sent with its variant's message, composed once. One query, and only for a
    campaign with an experiment."""
    if not experiment:
        return {"": rows}
    labels = dict(
        Delivery.objects.filter(id__in=[row[0] for row in rows]).values_list("id", "variant")
    )
    groups: dict[str, list[tuple[int, int]]] = {}
    for row in rows:
        groups.setdefault(labels.get(row[0], ""), []).append(row)
    return groups


def _lease() -> timedelta:
    """How long a claim holds before the sweeper may requeue it: longer than a batch takes."""
    return timedelta(seconds=settings.SEND_LEASE_SECONDS)


def _batch_size(transport: Transport) -> int:
    """Enough rows for one full ESP call when the backend batches calls; never so many
    that a slow rate holds them past their lease."""
    size = settings.SEND_BATCH_SIZE
    if transport.batches_calls:
        size = max(size, transport.recipients_per_call)
    if transport.per_second > 0:
        size = min(size, int(transport.per_second * _lease().total_seconds() / 4))
    return max(1, size)


def _addressees(
    rows: list[tuple[int, int]], campaign: Campaign
) -> tuple[list[Addressee], list[int]]:
    allowed = eligible((subscriber_id for _, subscriber_id in rows), campaign)
    people = {
        subscriber.pk: subscriber
        for subscriber in Subscriber.objects.filter(pk__in=allowed).only(
            "pk", "email", "name", "attributes", "tracking_opt_out", "tracking_off", "mail_format"
        )
    }
    addressees, skipped = [], []
    for delivery_id, subscriber_id in rows:
        person = people.get(subscriber_id)
        if person is None:
            skipped.append(delivery_id)
            continue
        addressees.append(
            Addressee(
                delivery_id=delivery_id,
                subscriber_id=subscriber_id,
                email=person.email,
                name=person.name,
                attributes=person.attributes,
                list_name=allowed[subscriber_id][0],
                list_id=allowed[subscriber_id][1],
                tracking_opt_out=person.tracking_opt_out,
                untracked=person.tracking_off,
                text_only=person.mail_format == MailFormat.TEXT,
            )
        )
    return addressees, skipped


@dataclass
class Outcomes:
    """What this task's messages did: the error rate is judged on them, with no query
    over the campaign's rows (a 1M-row count per batch would dominate the send)."""

    sent: int = 0
    failed: int = 0

    def too_many_failures(self) -> bool:
        attempts = self.sent + self.failed
        return (
            attempts >= MIN_ATTEMPTS_FOR_ERROR_RATE
            and self.failed / attempts > settings.SEND_PAUSE_ERROR_RATE
        )


def _send_batch(
    messages: CampaignMessages,
    rows: list[tuple[int, int]],
    worker: str,
    pace: "Pace",
    outcomes: Outcomes,
) -> bool:
    """Send the claimed rows; return False when a quota is spent and the rest must wait."""
    addressees, skipped = _addressees(rows, messages.campaign)
    addressees = messages.choose(addressees)
    if skipped:
        Delivery.objects.filter(id__in=skipped, worker=worker).update(
            status=DeliveryStatus.SKIPPED,
            last_error="No longer subscribed, or suppressed, when its turn came.",
            lease_until=None,
        )
    transport = pace.transport
    template = (
        messages.merge_template(transport.merge_field_format) if transport.batches_calls else None
    )
    backend = transport.connection()
    try:
        try:
            backend.open()
        except Exception as error:  # e.g. a refused SMTP host: each row records why
            outcomes.failed += sum(_record_failure(a, worker, error)[1] for a in addressees)
            return True
        if template is not None:
            # Readers whose copy differs in shape (no tracking, text only) go one by one.
            shared, own = template.split(addressees)
            if own and not _send_one_by_one(messages, own, backend, worker, pace, outcomes):
                _release([a.delivery_id for a in shared], worker)
                return False
            return _send_calls(template, shared, backend, worker, pace, outcomes)
        return _send_one_by_one(messages, addressees, backend, worker, pace, outcomes)
    finally:
        try:
            backend.close()
        except Exception:  # closing a dead connection must not hide the real outcome
            logger.debug("closing the mail connection failed", exc_info=True)


def _send_one_by_one(
    messages: CampaignMessages,
    addressees: list[Addressee],
    backend,
    worker: str,
    pace: "Pace",
    outcomes: Outcomes,
) -> bool:
    raw_smtp = isinstance(backend, SMTPBackend)
    flight = Flight(worker)
    try:
        for index, addressee in enumerate(addressees):
            wait = pace.take([addressee])
            if wait:
                flight.flush()
                _defer([a.delivery_id for a in addressees[index:]], worker, wait)
                return False
            if not flight.take_off(addressee.delivery_id):
                continue
            try:
                message_id = _transmit(messages, addressee, backend, raw_smtp)
            except Exception as error:  # classified below; nothing is swallowed silently
                flight.flush()
                reconnect, final = _record_failure(addressee, worker, error)
                outcomes.failed += final
                if reconnect:
                    _release([a.delivery_id for a in addressees[index + 1 :]], worker)
                    return True
                continue
            flight.land(addressee.delivery_id, message_id)
            outcomes.sent += 1
    finally:
        flight.flush()
    return True


def _send_calls(
    template: MergeTemplate,
    addressees: list[Addressee],
    backend,
    worker: str,
    pace: "Pace",
    outcomes: Outcomes,
) -> bool:
    """Up to the ESP's per-call maximum of recipients per API call.

    The whole call's rows go in flight in one statement before it is made, and are
    recorded after: a worker that dies in between leaves them ``uncertain``, never
    resent. A call whose answer was lost (read timeout) makes them uncertain too.
    """
    calls = _calls(addressees, pace.transport.recipients_per_call)
    for number, call in enumerate(calls):
        wait = pace.take(call)
        if wait:
            _defer([a.delivery_id for rest in calls[number:] for a in rest], worker, wait)
            return False
        taken = _take_off_all([a.delivery_id for a in call], worker)
        call = [addressee for addressee in call if addressee.delivery_id in taken]
        if not call:
            continue
        message = template.build(call)
        message.connection = backend
        try:
            message.send()
        except Exception as error:  # classified below; nothing is swallowed silently
            outcomes.failed += _record_call_failure(call, worker, error)
            continue
        sent, failed = _land_all(call, message, worker)
        outcomes.sent += sent
        outcomes.failed += failed
    return True


def _calls(addressees: list[Addressee], size: int) -> list[list[Addressee]]:
    """Groups of at most ``size`` with each address once: the ESP keys merge data by
    address, so two subscribers sharing one go in different calls."""
    calls: list[list[Addressee]] = []
    seen: list[set[str]] = []
    for addressee in addressees:
        address = addressee.email.lower()
        for call, addresses in zip(calls, seen, strict=True):
            if len(call) < size and address not in addresses:
                call.append(addressee)
                addresses.add(address)
                break
        else:
            calls.append([addressee])
            seen.append({address})
    return calls


@dataclass
class Pace:
    """The transport's shared limits: quotas (hour, day) first, then rates."""

    throttle: Throttle
    transport: Transport

    def take(self, addressees: list[Addressee]) -> float:
        """Wait out the rates; return 0, or the seconds until a spent quota has room."""
        transport = self.transport
        while wait := self.throttle.reserve(list(transport.quotas), len(addressees)):
            if wait > QUOTA_SLEEP_SECONDS:
                return wait
            time.sleep(wait)
        self.throttle.wait(
            transport.key,
            Rate(transport.per_second, burst=transport.recipients_per_call),
            len(addressees),
        )
        if transport.per_domain_per_second > 0:
            domains = Counter(a.email.rsplit("@", 1)[-1].lower() for a in addressees)
            for domain, count in domains.items():
                self.throttle.wait(
                    f"{transport.key}:domain:{domain}",
                    Rate(transport.per_domain_per_second),
                    count,
                )
        return 0.0


def _defer(delivery_ids: list[int], worker: str, seconds: float) -> None:
    """A quota is spent: these rows wait, queued, until it has room (no attempt charged)."""
    wait = min(seconds, QUOTA_DEFER_MAX.total_seconds())
    Delivery.objects.filter(
        id__in=delivery_ids, worker=worker, status=DeliveryStatus.CLAIMED
    ).update(
        status=DeliveryStatus.QUEUED,
        worker="",
        lease_until=None,
        attempts=F("attempts") - 1,
        next_attempt_at=timezone.now() + timedelta(seconds=wait),
    )
    logger.info("sending quota spent", extra={"deferred": len(delivery_ids), "seconds": wait})


def _take_off_all(delivery_ids: list[int], worker: str) -> set[int]:
    """Put a call's rows in flight, committed before the call: only those still ours."""
    now = timezone.now()
    with transaction.atomic():
        taken = set(
            Delivery.objects.select_for_update()
            .filter(id__in=delivery_ids, worker=worker, status=DeliveryStatus.CLAIMED)
            .values_list("id", flat=True)
        )
        Delivery.objects.filter(id__in=taken).update(
            status=DeliveryStatus.IN_FLIGHT, lease_until=now + _lease()
        )
    return taken


def _land_all(call: list[Addressee], message, worker: str) -> tuple[int, int]:
    """Record each recipient of an accepted call as the ESP reported them: sent, or
    failed when it rejected the address (which is then suppressed, as a hard bounce)."""
    statuses = message.anymail_status.recipients
    sent: dict[int, str] = {}
    refused: list[Addressee] = []
    for addressee in call:
        status = statuses.get(addressee.email)
        if status is not None and status.status in ("rejected", "invalid"):
            refused.append(addressee)
        else:
            sent[addressee.delivery_id] = str(getattr(status, "message_id", "") or "")[:255]

    def write() -> None:
        with transaction.atomic():
            if sent:
                _record_sent(sent, worker)
            if refused:
                Delivery.objects.filter(
                    id__in=[a.delivery_id for a in refused], worker=worker
                ).update(
                    status=DeliveryStatus.FAILED,
                    last_error="The ESP refused the address.",
                    lease_until=None,
                )

    if sent or refused:
        _with_db_retries(write)
    for addressee in refused:
        _refused(addressee, "The ESP refused the address.")
    return len(sent), len(refused)


def _record_sent(message_ids: dict[int, str], worker: str) -> None:
    """One statement for a whole call, each row with its own message id (an ORM
    ``Case`` of a thousand branches costs seconds to compile; this costs milliseconds)."""
    values = ", ".join(["(%s, %s)"] * len(message_ids))
    sql = (
        f"WITH landed(id, message_id) AS (VALUES {values}) "  # noqa: S608 (placeholders only)
        "UPDATE delivery_delivery SET status = 'sent', sent_at = %s, "
        "esp_message_id = landed.message_id, last_error = '', lease_until = NULL "
        "FROM landed WHERE delivery_delivery.id = landed.id AND delivery_delivery.worker = %s"
    )
    params = [item for pair in message_ids.items() for item in pair]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, timezone.now(), worker])


def _record_call_failure(call: list[Addressee], worker: str, error: Exception) -> int:
    """A whole call failed: uncertain when its answer was lost, else requeued with backoff
    or failed, like a single message. Returns how many rows failed for good."""
    ids = [addressee.delivery_id for addressee in call]
    rows = Delivery.objects.filter(id__in=ids, worker=worker)
    if _outcome_unknown(error):
        rows.update(
            status=DeliveryStatus.UNCERTAIN,
            last_error=f"No answer from the ESP ({type(error).__name__}): it may have sent.",
            lease_until=None,
        )
        logger.warning("ESP call outcome unknown", extra={"recipients": len(ids)})
        return 0
    failure = classify(error)
    attempts = max(rows.values_list("attempts", flat=True), default=1)
    final = failure.permanent or attempts >= settings.SEND_MAX_ATTEMPTS
    if final:
        rows.update(
            status=DeliveryStatus.FAILED, last_error=failure.reason[:1000], lease_until=None
        )
        if failure.hard_bounce:
            for addressee in call:
                _refused(addressee, failure.reason)
    else:
        rows.update(
            status=DeliveryStatus.QUEUED,
            last_error=failure.reason[:1000],
            lease_until=None,
            worker="",
            next_attempt_at=timezone.now() + backoff(attempts),
        )
    logger.warning(
        "ESP call failed",
        extra={"recipients": len(ids), "permanent": final, "reason": failure.reason[:200]},
    )
    return len(ids) if final else 0


def _outcome_unknown(error: Exception) -> bool:
    """The request may have reached the ESP but no answer came back (a read timeout, a
    connection dropped mid-response). A refused connection or a connect timeout means
    nothing was sent, and an HTTP status is an answer: those are safe to retry."""
    if not isinstance(error, requests.RequestException) or getattr(error, "status_code", None):
        return False
    cause = error.__cause__ or error
    if isinstance(cause, requests.ConnectTimeout):
        return False
    reason = getattr(cause.args[0], "reason", None) if cause.args else None
    return not isinstance(reason, NewConnectionError)


def _transmit(messages: CampaignMessages, addressee: Addressee, backend, raw_smtp: bool) -> str:
    """Hand one message to the server; return the id it is known by."""
    if raw_smtp:
        if backend.connection is None:
            backend.open()
        send_raw(
            backend.connection,
            messages.envelope_sender_for(addressee),
            addressee.email,
            messages.build_raw(addressee),
        )
        return messages.message_id(addressee)
    message = messages.build(addressee)
    message.connection = backend
    message.send()
    return _esp_message_id(message)


class Flight:
    """The row being handed to the server, and the one just handed over.

    One statement per message both records the previous message as sent and marks
    the next one in flight, so a dead worker leaves at most one row in flight (the
    sweeper makes it ``uncertain``) and PostgreSQL sees one commit per message.
    Taking off is conditional on this worker still holding the row: if its lease
    expired and the sweeper gave it away, it is not ours to send.
    """

    TRANSITION = """
        UPDATE delivery_delivery SET
            status = CASE WHEN id = %(landed)s THEN 'sent' ELSE 'in_flight' END,
            sent_at = CASE WHEN id = %(landed)s THEN %(now)s ELSE sent_at END,
            esp_message_id = CASE WHEN id = %(landed)s THEN %(message_id)s
                                  ELSE esp_message_id END,
            last_error = CASE WHEN id = %(landed)s THEN '' ELSE last_error END,
            lease_until = CASE WHEN id = %(landed)s THEN NULL ELSE %(lease)s END
        WHERE worker = %(worker)s
          AND (id = %(landed)s OR (id = %(next)s AND status = 'claimed'))
        RETURNING id
    """

    def __init__(self, worker: str) -> None:
        self.worker = worker
        self.landing: tuple[int, str] | None = None

    def take_off(self, delivery_id: int) -> bool:
        return delivery_id in self._transition(next_id=delivery_id)

    def land(self, delivery_id: int, message_id: str) -> None:
        self.landing = (delivery_id, message_id[:255])

    def flush(self) -> None:
        """Record the last landing now (end of batch, or before recording a failure)."""
        if self.landing is not None:
            self._transition(next_id=None)

    def _transition(self, *, next_id: int | None) -> set[int]:
        landed, message_id = self.landing or (None, "")
        now = timezone.now()
        params = {
            "landed": landed,
            "message_id": message_id,
            "next": next_id,
            "worker": self.worker,
            "now": now,
            "lease": now + _lease(),
        }
        ids: set[int] = set()

        def write() -> None:
            with connection.cursor() as cursor:
                cursor.execute(self.TRANSITION, params)
                ids.update(row[0] for row in cursor.fetchall())

        # The server accepted the previous message: recording it must survive a
        # dropped database connection.
        _with_db_retries(write)
        self.landing = None
        return ids


def _with_db_retries(write, attempts: int = 5) -> None:
    """The server accepted the message: recording that must survive a dropped connection."""
    for attempt in range(attempts):
        try:
            write()
            return
        except (OperationalError, InterfaceError):
            if attempt == attempts - 1:
                raise
            connection.close()
            time.sleep(0.5 * (attempt + 1))


def _esp_message_id(message) -> str:
    status = getattr(message, "anymail_status", None)
    if status is not None and status.message_id:
        return str(status.message_id)
    return message.extra_headers.get("Message-ID", "")


def _release(delivery_ids: list[int], worker: str) -> None:
    """Rows never handed over go back to the queue, and lose the attempt they were charged."""
    Delivery.objects.filter(
        id__in=delivery_ids, worker=worker, status=DeliveryStatus.CLAIMED
    ).update(status=DeliveryStatus.QUEUED, worker="", lease_until=None, attempts=F("attempts") - 1)


@dataclass(frozen=True)
class Failure:
    permanent: bool
    reconnect: bool
    hard_bounce: bool
    reason: str


def classify(error: Exception) -> Failure:
    """Permanent (5xx, the ESP refused the recipient) or transient (4xx, timeouts, 429, 5xx
    from an API); whether the connection is gone; whether the address itself bounced."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        code, reply = next(iter(error.recipients.values()))
        text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
        return Failure(code >= 500, False, code >= 500, f"{code} {text}")
    if isinstance(error, smtplib.SMTPResponseException):
        text = (
            error.smtp_error.decode(errors="replace")
            if isinstance(error.smtp_error, bytes)
            else str(error.smtp_error)
        )
        return Failure(
            error.smtp_code >= 500, error.smtp_code == 421, False, f"{error.smtp_code} {text}"
        )
    if isinstance(error, AnymailRecipientsRefused):
        return Failure(True, False, True, str(error).splitlines()[0])
    if isinstance(error, AnymailAPIError):
        status = _status_of(error)
        transient = status in (0, 408, 429) or status >= 500
        return Failure(not transient, False, False, str(error).splitlines()[0])
    if isinstance(error, smtplib.SMTPServerDisconnected | OSError):
        return Failure(False, True, False, f"{type(error).__name__}: {error}")
    return Failure(True, False, False, f"{type(error).__name__}: {error}")


def _status_of(error: AnymailAPIError) -> int:
    """The ESP's HTTP status; for Amazon SES it sits in botocore's parsed error."""
    if error.status_code:
        return error.status_code
    response = getattr(error.__cause__, "response", None)
    if isinstance(response, dict):
        return response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    return 0


def _record_failure(addressee: Addressee, worker: str, error: Exception) -> tuple[bool, bool]:
    """Requeue with backoff, or fail; return whether the connection must be reopened, and
    whether the row failed for good (what the campaign's error rate counts)."""
    failure = classify(error)
    row = Delivery.objects.filter(id=addressee.delivery_id).only("attempts").first()
    attempts = row.attempts if row else 1
    final = failure.permanent or attempts >= settings.SEND_MAX_ATTEMPTS
    if final:
        Delivery.objects.filter(id=addressee.delivery_id, worker=worker).update(
            status=DeliveryStatus.FAILED, last_error=failure.reason[:1000], lease_until=None
        )
        if failure.hard_bounce:
            _refused(addressee, failure.reason)
    else:
        Delivery.objects.filter(id=addressee.delivery_id, worker=worker).update(
            status=DeliveryStatus.QUEUED,
            last_error=failure.reason[:1000],
            lease_until=None,
            worker="",
            next_attempt_at=timezone.now() + backoff(attempts),
        )
    logger.warning(
        "message not sent",
        extra={
            "delivery": addressee.delivery_id,
            "permanent": failure.permanent,
            "reason": failure.reason[:200],
        },
    )
    return failure.reconnect, final


def _refused(addressee: Addressee, reason: str) -> None:
    """The server or ESP refused the address while sending: a hard bounce, recorded once
    through the feedback service (which suppresses the address)."""
    feedback.record(
        feedback=feedback.Feedback(
            esp=feedback.SEND_TIME,
            event_id=f"delivery-{addressee.delivery_id}",
            kind=FeedbackKind.BOUNCED,
            bounce_type=BounceType.HARD,
            recipient=addressee.email,
            delivery_id=addressee.delivery_id,
            detail=reason,
        ),
        scope=feedback.INTERNAL,
    )


def backoff(attempts: int) -> timedelta:
    """Exponential with full jitter: 30 s, 1 min, 2 min… at most an hour."""
    ceiling = min(3600, 30 * 2 ** max(0, attempts - 1))
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))  # noqa: S311


def _pause_for_errors(campaign_id: int) -> None:
    updated = Campaign.objects.filter(pk=campaign_id, status=Status.SENDING).update(
        status=Status.PAUSED
    )
    if updated:
        logger.error("campaign paused: too many failures", extra={"campaign": campaign_id})
        tell_owners_campaign_paused(campaign_id=campaign_id)


@transaction.atomic
def _finish_if_done(campaign_id: int) -> bool:
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


# The sweeper


@dataclass
class SweepReport:
    requeued: int
    uncertain: int
    redispatched: list[int]
    finished: list[int]


def sweep() -> SweepReport:
    """Repair what dead workers and a lost broker left behind; safe to run anywhere, often."""
    now = timezone.now()
    requeued = Delivery.objects.filter(status=DeliveryStatus.CLAIMED, lease_until__lt=now).update(
        status=DeliveryStatus.QUEUED, worker="", lease_until=None
    )
    uncertain = Delivery.objects.filter(
        status=DeliveryStatus.IN_FLIGHT, lease_until__lt=now
    ).update(
        status=DeliveryStatus.UNCERTAIN,
        last_error="Its worker stopped while handing it to the server: it may have been sent.",
        lease_until=None,
    )
    redispatched, finished = [], []
    for campaign_id in Campaign.objects.filter(status=Status.SENDING).values_list("pk", flat=True):
        live = Delivery.objects.filter(
            campaign_id=campaign_id,
            status__in=(DeliveryStatus.CLAIMED, DeliveryStatus.IN_FLIGHT),
            lease_until__gte=now,
        ).exists()
        if live:
            continue
        # Rows waiting for their time (a reader's local hour, a spent quota) are left
        # until it comes: no worker is woken to find nothing it may claim.
        due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
        queued = Delivery.objects.filter(due, campaign_id=campaign_id, status=DeliveryStatus.QUEUED)
        if queued.exists():
            dispatch(campaign_id)
            redispatched.append(campaign_id)
        elif _finish_if_done(campaign_id):
            finished.append(campaign_id)
    if requeued or uncertain or redispatched:
        logger.info(
            "sweep",
            extra={"requeued": requeued, "uncertain": uncertain, "redispatched": redispatched},
        )
    return SweepReport(requeued, uncertain, redispatched, finished)


# Progress


@dataclass(frozen=True)
class Progress:
    total: int
    queued: int
    sending: int
    sent: int
    failed: int
    skipped: int
    uncertain: int
    per_second: float
    eta_seconds: float | None
    started_at: datetime | None = None
    # Of ``queued``: rows waiting for their reader's local hour (or a spent quota).
    waiting: int = 0
    # Readers who get it in their weekly or monthly digest, not yet sent.
    in_digest: int = 0

    @property
    def done(self) -> int:
        """Rows with an outcome: the progress bar's value."""
        return self.sent + self.failed + self.skipped + self.uncertain


def progress(*, campaign: Campaign) -> Progress:
    """Counts by state, cheap at any size: only the rows not yet sent are counted.

    ``sent`` is what remains of the recipient count fixed when sending started, so a
    finished million-recipient campaign costs a few index entries, not a million.
    The rate is the average over about the last minute while sending
    (``_send_rate``) and over the whole send once it is finished.
    """
    counts = dict(
        Delivery.objects.filter(campaign=campaign, status__in=NOT_SENT)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    # Read afresh: the caller's copy may predate the start or the end of sending.
    total, status, sent_at = (
        Campaign.objects.filter(pk=campaign.pk)
        .values_list("recipient_count", "status", "sent_at")
        .get()
    )
    total = total or 0
    sent = total - sum(counts.values())
    started_at = sending_started_at(campaign)
    per_second = 0.0
    if status == Status.SENDING:
        per_second = _send_rate(campaign.pk, sent, started_at)
    elif status == Status.SENT and started_at and sent_at:
        per_second = sent / max((sent_at - started_at).total_seconds(), 1)
    queued = counts.get(DeliveryStatus.QUEUED, 0)
    sending = counts.get(DeliveryStatus.CLAIMED, 0) + counts.get(DeliveryStatus.IN_FLIGHT, 0)
    waiting = (
        Delivery.objects.filter(
            campaign=campaign, status=DeliveryStatus.QUEUED, next_attempt_at__gt=timezone.now()
        ).count()
        if queued
        else 0
    )
    return Progress(
        total=total,
        queued=queued,
        sending=sending,
        sent=sent,
        failed=counts.get(DeliveryStatus.FAILED, 0),
        skipped=counts.get(DeliveryStatus.SKIPPED, 0),
        uncertain=counts.get(DeliveryStatus.UNCERTAIN, 0),
        per_second=round(per_second, 1),
        eta_seconds=round((queued - waiting + sending) / per_second)
        if per_second and status == Status.SENDING
        else None,
        started_at=started_at,
        waiting=waiting,
        in_digest=counts.get(DeliveryStatus.IN_DIGEST, 0),
    )


NOT_SENT = [status for status in DeliveryStatus.values if status != DeliveryStatus.SENT]


def sent_counts(campaigns: Iterable[Campaign]) -> dict[int, int]:
    """Messages sent per campaign, by the same rule as ``progress``: the recipient
    count fixed at start minus the rows not sent, in one grouped query."""
    campaigns = list(campaigns)
    not_sent = dict(
        Delivery.objects.filter(
            campaign_id__in=[campaign.pk for campaign in campaigns], status__in=NOT_SENT
        )
        .values_list("campaign_id")
        .annotate(n=Count("id"))
    )
    return {
        campaign.pk: (campaign.recipient_count or 0) - not_sent.get(campaign.pk, 0)
        for campaign in campaigns
    }


# The rate is measured over about a minute: a campaign is sent in batches, and over a
# few seconds the count jumps, then stands still (a rate flipping between 3.1 and 0).
RATE_WINDOW_SECONDS = 60
RATE_SNAPSHOT_SECONDS = 5
RATE_MIN_SPAN_SECONDS = 20


def _send_rate(campaign_id: int, sent: int, started_at: datetime | None) -> float:
    """Messages per second while sending, averaged over up to RATE_WINDOW_SECONDS.

    Snapshots of the sent count (at most one every RATE_SNAPSHOT_SECONDS, kept for the
    window) are shared through the cache by every viewer. The rate runs from the oldest
    snapshot once it is RATE_MIN_SPAN_SECONDS old; before that, and for a first viewer
    of a long send, from the start of sending, when nothing was sent.
    """
    key = f"delivery:rate:{campaign_id}"
    now = time.time()
    snapshots = [(at, count) for at, count in cache.get(key, []) if now - at <= RATE_WINDOW_SECONDS]
    if not snapshots or now - snapshots[-1][0] >= RATE_SNAPSHOT_SECONDS:
        cache.set(key, [*snapshots, (now, sent)], timeout=RATE_WINDOW_SECONDS * 2)
    if snapshots and now - snapshots[0][0] >= RATE_MIN_SPAN_SECONDS:
        since, baseline = snapshots[0]
    elif started_at is not None:
        since, baseline = started_at.timestamp(), 0
    else:
        return 0.0
    elapsed = now - since
    return max(sent - baseline, 0) / elapsed if elapsed >= 1 else 0.0
