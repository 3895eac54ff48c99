"""Every write to a delivery row's status, checked against one table of allowed moves.

``MOVES`` names each move with the states it may leave and the state it reaches; each
function here filters on the "from" states, so a row in any other state is left alone
(a worker whose lease expired cannot land a row the sweeper gave away, a retry cannot
requeue a sent row). No other module writes ``Delivery.status``, not even in raw SQL
(``tests/delivery/test_ledger.py`` reads the source to keep it so).

While sending: claim under a lease, take off (``in_flight``, committed before the
server sees the message), land (``sent``), defer, release, skip, fail, requeue with
backoff, mark uncertain. A worker that dies leaves ``claimed`` rows (never handed
over: the sweeper requeues them) and at most one ``in_flight`` row (the sweeper marks
it ``uncertain``, never resends it). Every write while sending is conditional on this
worker still holding the row.
"""

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.db.utils import InterfaceError, OperationalError
from django.utils import timezone

from . import feedback
from .errors import backoff, classify, outcome_unknown
from .messages import Addressee
from .models import BounceType, Delivery, DeliveryStatus, FeedbackKind

logger = logging.getLogger(__name__)

# A spent quota's rows wait at most this long before they are claimed again (capped,
# so a quota raised in the dashboard takes effect soon).
QUOTA_DEFER_MAX = timedelta(minutes=15)

S = DeliveryStatus


@dataclass(frozen=True)
class Move:
    """A row may go to ``to`` only from one of ``sources`` (none: the row is created)."""

    sources: tuple[str, ...]
    to: str


MOVES: dict[str, Move] = {
    # Created when a campaign starts (delivery/audience.py) or a person reaches an
    # automation step (delivery/ongoing.py); a digest reader's row waits for the digest.
    "add": Move((), S.QUEUED),
    "add_to_digest": Move((), S.IN_DIGEST),
    # The send loop (delivery/sending/).
    "claim": Move((S.QUEUED,), S.CLAIMED),
    "take_off": Move((S.CLAIMED,), S.IN_FLIGHT),
    # The server accepted it: sent, even if the sweeper had given up on it meanwhile.
    "land": Move((S.IN_FLIGHT, S.UNCERTAIN), S.SENT),
    "defer": Move((S.CLAIMED,), S.QUEUED),
    "release": Move((S.CLAIMED,), S.QUEUED),
    "skip": Move((S.CLAIMED,), S.SKIPPED),
    # The ESP took the call but refused this address.
    "refuse": Move((S.IN_FLIGHT, S.UNCERTAIN), S.FAILED),
    # A definite answer (or a connection that never opened): failed for good, or again later.
    "fail": Move((S.CLAIMED, S.IN_FLIGHT, S.UNCERTAIN), S.FAILED),
    "requeue": Move((S.CLAIMED, S.IN_FLIGHT, S.UNCERTAIN), S.QUEUED),
    # An ESP call whose answer was lost, or an SMTP message whose whole data went out
    # with no reply (delivery/smtp_session.py): it may have sent.
    "uncertain": Move((S.IN_FLIGHT,), S.UNCERTAIN),
    # The sweeper (delivery/sweeper.py): leases that expired.
    "expire_claim": Move((S.CLAIMED,), S.QUEUED),
    "expire_flight": Move((S.IN_FLIGHT,), S.UNCERTAIN),
    # The campaign's state machine (delivery/lifecycle.py).
    "cancel": Move((S.QUEUED, S.HELD, S.IN_DIGEST), S.SKIPPED),
    "retry": Move((S.FAILED,), S.QUEUED),
    "resend": Move((S.UNCERTAIN,), S.QUEUED),
    "count_as_sent": Move((S.UNCERTAIN,), S.SENT),
    # An experiment (delivery/samples.py): all but the sample wait for the winner.
    "hold": Move((S.QUEUED,), S.HELD),
    "release_held": Move((S.HELD,), S.QUEUED),
    # Digests (delivery/digests.py): the rows take their digest's outcome.
    "digest_skip": Move((S.IN_DIGEST,), S.SKIPPED),
    "digest_sent": Move((S.IN_DIGEST,), S.SENT),
    "digest_failed": Move((S.IN_DIGEST,), S.FAILED),
    "digest_uncertain": Move((S.IN_DIGEST,), S.UNCERTAIN),
}


def _move(name: str, rows: QuerySet, **fields: object) -> int:
    """Apply a move to those of ``rows`` in one of its "from" states; how many moved."""
    move = MOVES[name]
    return rows.filter(status__in=move.sources).update(status=move.to, **fields)


def _sql(name: str) -> dict[str, object]:
    """A move as bound parameters for raw SQL: ``%(name_from)s`` (an array for
    ``status = ANY(...)``) and ``%(name_to)s``. No status is written as a literal."""
    move = MOVES[name]
    return {f"{name}_from": list(move.sources), f"{name}_to": move.to}


# Rows created

# ``{rows}`` yields one row per reader: ``id`` (the subscriber), ``in_digest``,
# ``next_attempt_at``, ``digest_due_at`` and ``edition`` (delivery/audience.py).
INSERT_ROWS = """
INSERT INTO delivery_delivery
    (campaign_id, subscriber_id, status, attempts, last_error, esp_message_id, worker,
     created_at, next_attempt_at, digest_due_at, edition)
SELECT %(campaign)s, r.id, CASE WHEN r.in_digest THEN %(add_to_digest_to)s ELSE %(add_to)s END,
       0, '', '', '', %(now)s, r.next_attempt_at, r.digest_due_at, r.edition
FROM ({rows}) r
ORDER BY r.id
"""

ADD_RECIPIENT = """
INSERT INTO delivery_delivery
    (campaign_id, subscriber_id, status, attempts, last_error, esp_message_id, worker,
     created_at)
VALUES (%(campaign)s, %(subscriber)s, %(add_to)s, 0, '', '', '', %(now)s)
ON CONFLICT (campaign_id, subscriber_id) DO NOTHING
"""


def add_rows(*, campaign_id: int, rows: str, params: dict, now: datetime) -> int:
    """One row per reader that ``rows`` (a SELECT, see ``INSERT_ROWS``) yields, in one
    statement, in subscriber order (both indexes grow at their right edge). The unique
    constraint makes a second call for a campaign fail rather than duplicate anyone."""
    with connection.cursor() as cursor:
        cursor.execute(
            INSERT_ROWS.format(rows=rows),
            {**params, **_sql("add"), **_sql("add_to_digest"), "campaign": campaign_id, "now": now},
        )
        return cursor.rowcount


def add_recipient(*, campaign_id: int, subscriber_id: int) -> bool:
    """One person's row on an open campaign, once ever: False when they already have one."""
    with connection.cursor() as cursor:
        cursor.execute(
            ADD_RECIPIENT,
            {
                **_sql("add"),
                "campaign": campaign_id,
                "subscriber": subscriber_id,
                "now": timezone.now(),
            },
        )
        return cursor.rowcount == 1


# Sending


def claim(*, campaign_id: int, size: int, worker: str) -> list[tuple[int, int]]:
    """Lease up to ``size`` queued rows to this worker; other workers skip them."""
    now = timezone.now()
    with transaction.atomic():
        rows = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(campaign_id=campaign_id, status__in=MOVES["claim"].sources)
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
            .order_by("id")
            .values_list("id", "subscriber_id")[:size]
        )
        if rows:
            _move(
                "claim",
                Delivery.objects.filter(id__in=[row[0] for row in rows]),
                worker=worker,
                lease_until=now + lease(),
                attempts=F("attempts") + 1,
            )
    return rows


def lease() -> timedelta:
    """How long a claim holds before the sweeper may requeue it: longer than a batch takes."""
    return timedelta(seconds=settings.SEND_LEASE_SECONDS)


def skip(delivery_ids: list[int], worker: str) -> None:
    """Rows whose reader may no longer receive the campaign (left, paused, suppressed)."""
    _move(
        "skip",
        Delivery.objects.filter(id__in=delivery_ids, worker=worker),
        last_error="No longer subscribed, or suppressed, when its turn came.",
        lease_until=None,
    )


def defer(delivery_ids: list[int], worker: str, seconds: float) -> None:
    """A quota is spent: these rows wait, queued, until it has room (no attempt charged)."""
    wait = min(seconds, QUOTA_DEFER_MAX.total_seconds())
    _move(
        "defer",
        Delivery.objects.filter(id__in=delivery_ids, worker=worker),
        worker="",
        lease_until=None,
        attempts=F("attempts") - 1,
        next_attempt_at=timezone.now() + timedelta(seconds=wait),
    )
    logger.info("sending quota spent", extra={"deferred": len(delivery_ids), "seconds": wait})


def take_off_all(delivery_ids: list[int], worker: str) -> set[int]:
    """Put a call's rows in flight, committed before the call: only those still ours."""
    now = timezone.now()
    with transaction.atomic():
        taken = set(
            Delivery.objects.select_for_update()
            .filter(id__in=delivery_ids, worker=worker, status__in=MOVES["take_off"].sources)
            .values_list("id", flat=True)
        )
        _move("take_off", Delivery.objects.filter(id__in=taken), lease_until=now + lease())
    return taken


def land_all(sent: dict[int, str], refused: list[Addressee], worker: str) -> tuple[int, int]:
    """Record a call the ESP accepted, each recipient as it reported them: sent (with
    its message id), or failed when it rejected the address (which is then suppressed,
    as a hard bounce). Returns (sent, refused)."""

    def write() -> None:
        with transaction.atomic():
            if sent:
                _record_sent(sent, worker)
            if refused:
                _move(
                    "refuse",
                    Delivery.objects.filter(id__in=[a.delivery_id for a in refused], worker=worker),
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
        "UPDATE delivery_delivery SET status = %s, sent_at = %s, "
        "esp_message_id = landed.message_id, last_error = '', lease_until = NULL "
        "FROM landed WHERE delivery_delivery.id = landed.id AND delivery_delivery.worker = %s"
        " AND delivery_delivery.status = ANY(%s)"
    )
    params = [item for pair in message_ids.items() for item in pair]
    land = MOVES["land"]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, land.to, timezone.now(), worker, list(land.sources)])


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
            status = CASE WHEN id = %(landed)s THEN %(land_to)s ELSE %(take_off_to)s END,
            sent_at = CASE WHEN id = %(landed)s THEN %(now)s ELSE sent_at END,
            esp_message_id = CASE WHEN id = %(landed)s THEN %(message_id)s
                                  ELSE esp_message_id END,
            last_error = CASE WHEN id = %(landed)s THEN '' ELSE last_error END,
            lease_until = CASE WHEN id = %(landed)s THEN NULL ELSE %(lease)s END
        WHERE worker = %(worker)s
          AND ((id = %(landed)s AND status = ANY(%(land_from)s))
               OR (id = %(next)s AND status = ANY(%(take_off_from)s)))
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
            "lease": now + lease(),
            **_sql("land"),
            **_sql("take_off"),
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


def release(delivery_ids: list[int], worker: str) -> None:
    """Rows never handed over go back to the queue, and lose the attempt they were charged."""
    _move(
        "release",
        Delivery.objects.filter(id__in=delivery_ids, worker=worker),
        worker="",
        lease_until=None,
        attempts=F("attempts") - 1,
    )


def record_failure(addressees: list[Addressee], worker: str, error: Exception) -> tuple[bool, int]:
    """The one failure path, for one message or a whole ESP call: uncertain when the
    answer was lost (it may have sent: never retried blindly), else failed for good
    (permanent, or out of attempts; a refused address is suppressed as a hard bounce)
    or queued again with backoff. Returns whether the connection must be reopened, and
    how many rows failed for good (what the campaign's error rate counts)."""
    ids = [addressee.delivery_id for addressee in addressees]
    rows = Delivery.objects.filter(id__in=ids, worker=worker)
    if outcome_unknown(error):
        _move(
            "uncertain",
            rows,
            last_error=f"No answer from the server ({type(error).__name__}): it may have sent.",
            lease_until=None,
        )
        logger.warning("ESP call outcome unknown", extra={"recipients": len(ids)})
        return False, 0
    failure = classify(error)
    attempts = max(rows.values_list("attempts", flat=True), default=1)
    final = failure.permanent or attempts >= settings.SEND_MAX_ATTEMPTS
    if final:
        _move("fail", rows, last_error=failure.reason[:1000], lease_until=None)
        if failure.hard_bounce:
            for addressee in addressees:
                _refused(addressee, failure.reason)
    else:
        _move(
            "requeue",
            rows,
            last_error=failure.reason[:1000],
            lease_until=None,
            worker="",
            next_attempt_at=timezone.now() + backoff(attempts),
        )
    logger.warning(
        "message not sent",
        extra={
            "deliveries": ids[:10],
            "recipients": len(ids),
            "permanent": final,
            "reason": failure.reason[:200],
        },
    )
    return failure.reconnect, len(ids) if final else 0


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


# The sweeper


def take_back(rows: QuerySet[Delivery], *, reason: str) -> tuple[int, int, set[int]]:
    """Take rows back from a worker that is gone (silent, or its lease expired): claimed
    ones return to the queue, the one in flight becomes ``uncertain`` (it may have left:
    never resent). Both lose their worker, so nothing that worker may still write (it
    may only have been paused) matches them. Returns how many were requeued, how many
    made uncertain, and the campaigns that got rows back."""
    claimed = rows.filter(status__in=MOVES["expire_claim"].sources)
    campaigns = set(claimed.values_list("campaign_id", flat=True).distinct())
    requeued = _move("expire_claim", rows, worker="", lease_until=None)
    uncertain = _move(
        "expire_flight",
        rows,
        worker="",
        lease_until=None,
        last_error=f"Its worker {reason} while handing it to the server: it may have been sent.",
    )
    return requeued, uncertain, campaigns


# The campaign's state machine


def cancel(*, campaign_id: int) -> int:
    """A cancelled campaign's rows that were still to go are skipped; rows waiting for a
    digest not yet made leave it, one already made keeps its issue."""
    rows = Delivery.objects.filter(campaign_id=campaign_id).filter(
        ~Q(status=DeliveryStatus.IN_DIGEST) | Q(digest__isnull=True)
    )
    return _move("cancel", rows, last_error="Campaign cancelled.")


def retry(*, campaign_id: int) -> int:
    """The failed rows (and only them) go back to the queue with fresh attempts."""
    return _move(
        "retry", Delivery.objects.filter(campaign_id=campaign_id), attempts=0, next_attempt_at=None
    )


def uncertain_ids(*, campaign_id: int, delivery_ids: list[int] | None) -> list[int]:
    """The campaign's uncertain rows (among ``delivery_ids`` when given), locked."""
    rows = Delivery.objects.select_for_update().filter(
        campaign_id=campaign_id, status__in=MOVES["resend"].sources
    )
    if delivery_ids is not None:
        rows = rows.filter(pk__in=delivery_ids)
    return sorted(rows.values_list("pk", flat=True))


def resend(delivery_ids: list[int], note: str) -> int:
    """Uncertain rows an editor chose to send again: queued, with fresh attempts."""
    return _move(
        "resend",
        Delivery.objects.filter(pk__in=delivery_ids),
        attempts=0,
        next_attempt_at=None,
        worker="",
        last_error=note,
    )


def count_as_sent(delivery_ids: list[int], note: str) -> int:
    """Uncertain rows an editor chose to count as sent."""
    return _move("count_as_sent", Delivery.objects.filter(pk__in=delivery_ids), last_error=note)


# Experiments

SPLIT = """
WITH drawn AS (
    SELECT id, row_number() OVER (ORDER BY random()) AS n
    FROM delivery_delivery
    WHERE campaign_id = %(campaign)s AND status = ANY(%(hold_from)s)
)
UPDATE delivery_delivery d SET
    variant = CASE WHEN drawn.n <= %(size)s
                   THEN (%(labels)s::text[])[(drawn.n - 1) %% %(count)s + 1] ELSE '' END,
    status = CASE WHEN drawn.n <= %(size)s THEN d.status ELSE %(hold_to)s END
FROM drawn
WHERE d.id = drawn.id
"""


def hold_all_but_sample(*, campaign_id: int, size: int, labels: list[str]) -> None:
    """``size`` random queued rows get a variant (in turn), the others are held."""
    with connection.cursor() as cursor:
        cursor.execute(
            SPLIT,
            {
                **_sql("hold"),
                "campaign": campaign_id,
                "size": size,
                "labels": labels,
                "count": len(labels),
            },
        )


def release_held(*, campaign_id: int) -> int:
    """The held rows go to the queue; nothing else moves a row out of ``held``."""
    return _move("release_held", Delivery.objects.filter(campaign_id=campaign_id))


# Digests


def digest_skip(*, digest_id: int, campaign_ids: list[int], reason: str) -> int:
    """A digest's issues its reader may no longer receive."""
    rows = Delivery.objects.filter(digest_id=digest_id, campaign_id__in=campaign_ids)
    return _move("digest_skip", rows, last_error=reason)


def digest_outcome(*, digest_id: int, sent: bool, reason: str, message_id: str, now) -> int:
    """The digest was sent (or failed for good): its rows take the same outcome."""
    rows = Delivery.objects.filter(digest_id=digest_id)
    return _move(
        "digest_sent" if sent else "digest_failed",
        rows,
        sent_at=now if sent else None,
        esp_message_id=message_id[:255],
        last_error=reason,
    )


def digest_uncertain(*, digest_ids: list[int], reason: str) -> int:
    """Digests whose worker died while handing them over: their rows are uncertain too."""
    rows = Delivery.objects.filter(digest_id__in=digest_ids)
    return _move("digest_uncertain", rows, last_error=reason)
