"""The send loop, as stages: load → claim → compose → pace → transmit → record.

A task claims batches of a campaign's rows (``ledger.claim``: ``FOR UPDATE SKIP
LOCKED`` under a lease) until its budget is spent or nothing is left. Every claim
re-reads the campaign (``load``), so a pause takes effect within a batch. Each
message goes in flight in its own commit just before it is handed over and is
recorded sent right after, so a process that dies leaves at most one row in flight
(the sweeper makes it ``uncertain``, never resends it); an ESP batch call's rows go
in flight together.
"""

import logging
import uuid
from datetime import timedelta

from django.utils import timezone

from campaigns.models import Status

from .. import heartbeats, ledger
from ..lifecycle import finish_if_done, pause_for_errors
from ..messages import Addressee, CampaignMessages
from ..throttle import Throttle
from .compose import Composer, Row, addressees
from .load import batch_size, load_campaign, load_transport
from .pace import Pace
from .record import Tally, record
from .transmit import Transmitter, transmitters

logger = logging.getLogger(__name__)

TASK_BUDGET = timedelta(seconds=50)


def send_batches(*, campaign_id: int, task_id: str = "") -> bool:
    """Claim and send batches for a while; return True if work remains (the task re-queues)."""
    worker = heartbeats.worker_name(task_id or uuid.uuid4().hex)
    deadline = timezone.now() + TASK_BUDGET
    throttle = Throttle()
    tally = Tally()
    composer = Composer()
    transport = None
    while timezone.now() < deadline:
        campaign = load_campaign(campaign_id)
        if campaign.status != Status.SENDING:
            return False
        if transport is None and (transport := load_transport(campaign)) is None:
            return False
        rows = ledger.claim(campaign_id=campaign_id, size=batch_size(transport), worker=worker)
        if not rows:
            finish_if_done(campaign_id)
            return False
        for messages, group in composer.groups(campaign, rows):
            within_quota = send_batch(messages, group, worker, Pace(throttle, transport), tally)
            if tally.too_many_failures():
                pause_for_errors(campaign_id)
                return False
            if not within_quota:
                ledger.release([row[0] for row in rows], worker)  # the other variants' rows
                return False  # the rest waits, queued with a time; the sweeper re-dispatches
    return True


def send_batch(
    messages: CampaignMessages, rows: list[Row], worker: str, pace: Pace, tally: Tally
) -> bool:
    """Send claimed rows with one message; False when a quota is spent and the rest waits."""
    found, skipped = addressees(rows, messages.campaign)
    found = messages.choose(found)
    if skipped:
        ledger.skip(skipped, worker)
    backend = pace.transport.connection()
    try:
        try:
            backend.open()
        except Exception as error:  # e.g. a refused SMTP host: each row records why
            for addressee in found:
                tally.failed += ledger.record_failure([addressee], worker, error)[1]
            return True
        plan = transmitters(messages, backend, pace.transport, found)
        for number, (transmitter, share) in enumerate(plan):
            if not _transmit(transmitter, share, worker, pace, tally):
                later = [a.delivery_id for _, rest in plan[number + 1 :] for a in rest]
                ledger.release(later, worker)
                return False
        return True
    finally:
        try:
            backend.close()
        except Exception:  # closing a dead connection must not hide the real outcome
            logger.debug("closing the mail connection failed", exc_info=True)


def _transmit(
    transmitter: Transmitter, share: list[Addressee], worker: str, pace: Pace, tally: Tally
) -> bool:
    """Pace, take off, transmit and record each call; False when a quota is spent (the
    rest is deferred). After an error that closed the connection, the rest is released
    for a fresh connection."""
    calls = transmitter.calls(share)
    flight = ledger.Flight(worker)
    try:
        for number, call in enumerate(calls):
            if wait := pace.take(call):
                flight.flush()
                ledger.defer([a.delivery_id for rest in calls[number:] for a in rest], worker, wait)
                return False
            # What may go out before the rows are in flight (an SMTP envelope): the
            # server answers it while the take-off commits.
            reconnect = False
            if failed := transmitter.prepare(call):
                reconnect = record(failed, flight=flight, batched=transmitter.batches, tally=tally)
            elif transmitter.batches:
                taken = ledger.take_off_all([a.delivery_id for a in call], worker)
                call = [addressee for addressee in call if addressee.delivery_id in taken]
                if call:
                    reconnect = record(
                        transmitter.send(call), flight=flight, batched=True, tally=tally
                    )
            elif flight.take_off(call[0].delivery_id):
                reconnect = record(
                    transmitter.send(call), flight=flight, batched=False, tally=tally
                )
            else:  # no longer ours: what was prepared must not be handed over
                reconnect = not transmitter.abandon()
            if reconnect and not transmitter.batches:
                ledger.release(
                    [a.delivery_id for rest in calls[number + 1 :] for a in rest], worker
                )
                return True
    finally:
        flight.flush()
    return True
