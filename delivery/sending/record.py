"""Stage 6, record: each outcome into the ledger, through one failure path.

A message sent one by one lands through ``ledger.Flight`` (one statement records it
and takes the next one off); a call's rows land together (``ledger.land_all``). Any
error, of one message or of a whole call, goes through ``ledger.record_failure``:
uncertain when the answer was lost, else failed for good or queued again with backoff.
The tally counts this task's outcomes: the error rate that pauses a campaign is judged
on them, with no query over the campaign's rows.
"""

from dataclasses import dataclass

from django.conf import settings

from .. import ledger
from .transmit import Outcome

MIN_ATTEMPTS_FOR_ERROR_RATE = 50


@dataclass
class Tally:
    """What this task's messages did (a 1M-row count per batch would dominate the send)."""

    sent: int = 0
    failed: int = 0

    def too_many_failures(self) -> bool:
        attempts = self.sent + self.failed
        return (
            attempts >= MIN_ATTEMPTS_FOR_ERROR_RATE
            and self.failed / attempts > settings.SEND_PAUSE_ERROR_RATE
        )


def record(outcomes: list[Outcome], *, flight: ledger.Flight, batched: bool, tally: Tally) -> bool:
    """Record one call's outcomes; True when the connection must be reopened first."""
    worker = flight.worker
    error = next((outcome.error for outcome in outcomes if outcome.error is not None), None)
    if error is not None:
        flight.flush()  # the previous message's landing first: it was sent
        reconnect, failed = ledger.record_failure(
            [outcome.addressee for outcome in outcomes], worker, error
        )
        tally.failed += failed
        return reconnect
    if batched:
        sent, refused = ledger.land_all(
            {o.addressee.delivery_id: o.message_id for o in outcomes if not o.refused},
            [o.addressee for o in outcomes if o.refused],
            worker,
        )
        tally.sent += sent
        tally.failed += refused
        return False
    for outcome in outcomes:
        flight.land(outcome.addressee.delivery_id, outcome.message_id)
        tally.sent += 1
    return False
