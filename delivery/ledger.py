"""Every write to a campaign's delivery rows while sending: claim under a lease, take
off (``in_flight``, committed before the server sees the message), land (``sent``),
defer, release, skip, fail, requeue with backoff, mark uncertain.

A worker that dies leaves ``claimed`` rows (never handed over: the sweeper requeues
them) and at most one ``in_flight`` row (the sweeper marks it ``uncertain``, never
resends it). Every write is conditional on this worker still holding the row.
"""

import logging
import time
from datetime import timedelta

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
                lease_until=now + lease(),
                attempts=F("attempts") + 1,
            )
    return rows


def lease() -> timedelta:
    """How long a claim holds before the sweeper may requeue it: longer than a batch takes."""
    return timedelta(seconds=settings.SEND_LEASE_SECONDS)


def skip(delivery_ids: list[int], worker: str) -> None:
    """Rows whose reader may no longer receive the campaign (left, paused, suppressed)."""
    Delivery.objects.filter(id__in=delivery_ids, worker=worker).update(
        status=DeliveryStatus.SKIPPED,
        last_error="No longer subscribed, or suppressed, when its turn came.",
        lease_until=None,
    )


def defer(delivery_ids: list[int], worker: str, seconds: float) -> None:
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


def take_off_all(delivery_ids: list[int], worker: str) -> set[int]:
    """Put a call's rows in flight, committed before the call: only those still ours."""
    now = timezone.now()
    with transaction.atomic():
        taken = set(
            Delivery.objects.select_for_update()
            .filter(id__in=delivery_ids, worker=worker, status=DeliveryStatus.CLAIMED)
            .values_list("id", flat=True)
        )
        Delivery.objects.filter(id__in=taken).update(
            status=DeliveryStatus.IN_FLIGHT, lease_until=now + lease()
        )
    return taken


def land_all(call: list[Addressee], message, worker: str) -> tuple[int, int]:
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


def record_call_failure(call: list[Addressee], worker: str, error: Exception) -> int:
    """A whole call failed: uncertain when its answer was lost, else requeued with backoff
    or failed, like a single message. Returns how many rows failed for good."""
    ids = [addressee.delivery_id for addressee in call]
    rows = Delivery.objects.filter(id__in=ids, worker=worker)
    if outcome_unknown(error):
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
            "lease": now + lease(),
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
    Delivery.objects.filter(
        id__in=delivery_ids, worker=worker, status=DeliveryStatus.CLAIMED
    ).update(status=DeliveryStatus.QUEUED, worker="", lease_until=None, attempts=F("attempts") - 1)


def record_failure(addressee: Addressee, worker: str, error: Exception) -> tuple[bool, bool]:
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


def take_back(rows: QuerySet[Delivery], *, reason: str) -> tuple[int, int, set[int]]:
    """Take rows back from a worker that is gone (silent, or its lease expired): claimed
    ones return to the queue, the one in flight becomes ``uncertain`` (it may have left:
    never resent). Both lose their worker, so nothing that worker may still write (it
    may only have been paused) matches them. Returns how many were requeued, how many
    made uncertain, and the campaigns that got rows back."""
    live = rows.filter(status__in=(DeliveryStatus.CLAIMED, DeliveryStatus.IN_FLIGHT))
    claimed = live.filter(status=DeliveryStatus.CLAIMED)
    campaigns = set(claimed.values_list("campaign_id", flat=True).distinct())
    requeued = claimed.update(status=DeliveryStatus.QUEUED, worker="", lease_until=None)
    uncertain = live.filter(status=DeliveryStatus.IN_FLIGHT).update(
        status=DeliveryStatus.UNCERTAIN,
        worker="",
        lease_until=None,
        last_error=f"Its worker {reason} while handing it to the server: it may have been sent.",
    )
    return requeued, uncertain, campaigns
