"""Weekly and monthly digests: a reader's period of issues in one mail, sent once.

When a campaign starts, a reader whose most frequent subscription on its lists is a
digest gets a row ``in_digest`` with the end of their period (``delivery/timing.py``)
instead of a queued one. Beat runs ``digests_run`` every minute:

1. **Collect** (``digests_collect``): rows whose period has ended are gathered, per
   reader and period, into one ``Digest`` (queued) that they then point at; one
   transaction, so a row is in exactly one digest. A period with no issues has no
   rows, hence no digest: nothing is sent.
2. **Send** (``digest_send_next``), one digest at a time, with a campaign row's
   guarantees: claimed under a lease, its issues checked again (the reader may have
   left or paused since), marked ``in_flight`` in its own commit just before it is
   handed over, and recorded ``sent`` together with its rows in one transaction.
3. **Sweep** (``digests_sweep``): a claimed digest whose lease expired goes back to the
   queue; one left in flight becomes ``uncertain`` with its rows, never resent.
"""

import logging
import socket
import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from email.utils import parseaddr

from django.conf import settings
from django.core.mail.backends.smtp import EmailBackend as SMTPBackend
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from campaigns.models import Campaign
from subscribers.models import Subscriber

from . import digest_mail, ledger, transports
from .audience import eligible
from .errors import backoff, classify
from .messages import DkimSigner, send_raw
from .models import Delivery, DeliveryStatus, Digest, DigestStatus
from .selectors import digest_campaigns

logger = logging.getLogger(__name__)

COLLECT_LIMIT = 5000
RUN_BUDGET = timedelta(seconds=50)
# Only one collector at a time: two would race to make the same reader's digest.
COLLECT_LOCK = 0x43524945  # "CRIE"


def _lease() -> timedelta:
    return timedelta(seconds=settings.SEND_LEASE_SECONDS)


def digests_collect(*, now: datetime | None = None) -> int:
    """Make the digests of periods that have ended; return how many rows were gathered."""
    now = now or timezone.now()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [COLLECT_LOCK])
            if not cursor.fetchone()[0]:
                return 0
        rows = list(
            Delivery.objects.filter(
                status=DeliveryStatus.IN_DIGEST, digest__isnull=True, digest_due_at__lte=now
            )
            .order_by("digest_due_at", "subscriber_id")
            .values_list("id", "subscriber_id", "digest_due_at", "subscriber__newsletter_id")[
                :COLLECT_LIMIT
            ]
        )
        periods: dict[tuple[int, int, datetime], list[int]] = defaultdict(list)
        for row_id, subscriber_id, due_at, newsletter_id in rows:
            periods[(subscriber_id, newsletter_id, due_at)].append(row_id)
        for (subscriber_id, newsletter_id, due_at), row_ids in periods.items():
            digest, _ = Digest.objects.get_or_create(
                subscriber_id=subscriber_id,
                period_end=due_at,
                status=DigestStatus.QUEUED,
                defaults={"newsletter_id": newsletter_id, "created_at": now},
            )
            Delivery.objects.filter(pk__in=row_ids).update(digest=digest)
    if rows:
        logger.info("digests collected", extra={"rows": len(rows), "digests": len(periods)})
    return len(rows)


def digest_claim(*, worker: str) -> Digest | None:
    """Lease the next due digest to this worker; other workers skip it."""
    now = timezone.now()
    with transaction.atomic():
        digest = (
            Digest.objects.select_for_update(skip_locked=True)
            .filter(status=DigestStatus.QUEUED)
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
            .order_by("id")
            .first()
        )
        if digest is None:
            return None
        Digest.objects.filter(pk=digest.pk).update(
            status=DigestStatus.CLAIMED,
            worker=worker,
            lease_until=now + _lease(),
            attempts=F("attempts") + 1,
        )
    digest.refresh_from_db()
    return digest


def digest_send_next(*, worker: str) -> bool:
    """Claim, build and send one digest; False when none is waiting."""
    digest = digest_claim(worker=worker)
    if digest is None:
        return False
    subscriber = Subscriber.objects.select_related("newsletter").get(pk=digest.subscriber_id)
    campaigns = _still_wanted(digest, subscriber)
    if not campaigns:
        _finish(digest, worker, DigestStatus.SKIPPED, "Nothing left to send in it.")
        return True
    editions = dict(Delivery.objects.filter(digest=digest).values_list("campaign_id", "edition"))
    message = digest_mail.build(
        digest_id=digest.pk, subscriber=subscriber, campaigns=campaigns, editions=editions
    )
    transport = transports.transport_for(subscriber.newsletter_id)
    backend = transport.connection()
    if not _take_off(digest, worker):
        return True  # its lease expired and the sweeper gave it away
    try:
        _hand_over(message, backend)
    except Exception as error:  # recorded below with its reason; nothing swallowed
        _failed(digest, worker, error)
        return True
    finally:
        try:
            backend.close()
        except Exception:  # closing a dead connection must not hide the outcome
            logger.debug("closing the mail connection failed", exc_info=True)
    _finish(digest, worker, DigestStatus.SENT, "", message_id=_message_id(message, backend))
    return True


def _hand_over(message, backend) -> None:
    """Over SMTP with a DKIM key, the signed bytes (as a campaign's messages are);
    otherwise the backend sends the Django message (the outbox, anymail's ESPs)."""
    signer = DkimSigner.from_settings() if isinstance(backend, SMTPBackend) else None
    if signer is None:
        message.connection = backend
        message.send()
        return
    backend.open()
    raw = signer.sign(message.message().as_bytes(linesep="\r\n"))
    send_raw(backend.connection, parseaddr(message.from_email)[1], message.to[0], raw)


def _still_wanted(digest: Digest, subscriber: Subscriber) -> list[Campaign]:
    """The digest's campaigns the reader may still receive now; the others' rows are
    skipped (left, paused, suppressed since), as a campaign's batch does."""
    campaigns = digest_campaigns(digest)
    wanted = [c for c in campaigns if subscriber.pk in eligible([subscriber.pk], c)]
    gone = [c.pk for c in campaigns if c not in wanted]
    if gone:
        ledger.digest_skip(
            digest_id=digest.pk,
            campaign_ids=gone,
            reason="No longer subscribed, or suppressed, when the digest was made.",
        )
    return wanted


def _take_off(digest: Digest, worker: str) -> bool:
    """In flight, committed before the mail is handed over: only if still this worker's."""
    return bool(
        Digest.objects.filter(pk=digest.pk, worker=worker, status=DigestStatus.CLAIMED).update(
            status=DigestStatus.IN_FLIGHT, lease_until=timezone.now() + _lease()
        )
    )


@transaction.atomic
def _finish(digest: Digest, worker: str, status: str, reason: str, *, message_id: str = "") -> None:
    """The digest's outcome, and the same for every issue it carries, in one commit."""
    now = timezone.now()
    done = Digest.objects.filter(
        pk=digest.pk, worker=worker, status__in=(DigestStatus.CLAIMED, DigestStatus.IN_FLIGHT)
    ).update(
        status=status,
        lease_until=None,
        last_error=reason,
        esp_message_id=message_id[:255],
        sent_at=now if status == DigestStatus.SENT else None,
    )
    if not done:
        return
    if status in (DigestStatus.SENT, DigestStatus.FAILED):
        ledger.digest_outcome(
            digest_id=digest.pk,
            sent=status == DigestStatus.SENT,
            reason=reason or f"Sent in digest {digest.pk}.",
            message_id=message_id,
            now=now,
        )
    logger.info("digest %s", status, extra={"digest": digest.pk, "reason": reason[:200]})


def _failed(digest: Digest, worker: str, error: Exception) -> None:
    """Permanent (or out of attempts): failed with its rows. Otherwise back to the queue,
    later, as a campaign's row would be."""
    failure = classify(error)
    if failure.permanent or digest.attempts >= settings.SEND_MAX_ATTEMPTS:
        _finish(digest, worker, DigestStatus.FAILED, failure.reason[:1000])
        return
    Digest.objects.filter(pk=digest.pk, worker=worker, status=DigestStatus.IN_FLIGHT).update(
        status=DigestStatus.QUEUED,
        worker="",
        lease_until=None,
        last_error=failure.reason[:1000],
        next_attempt_at=timezone.now() + backoff(digest.attempts),
    )


def _message_id(message, backend) -> str:
    if isinstance(backend, SMTPBackend):
        return message.extra_headers["Message-ID"]
    status = getattr(message, "anymail_status", None)
    if status is not None and status.message_id:
        return str(status.message_id)
    return message.extra_headers["Message-ID"]


def digests_sweep(*, now: datetime | None = None) -> tuple[int, int]:
    """Requeue digests whose worker died before handing them over; make those it died
    while handing over ``uncertain``, with their rows. Returns (requeued, uncertain)."""
    now = now or timezone.now()
    requeued = Digest.objects.filter(status=DigestStatus.CLAIMED, lease_until__lt=now).update(
        status=DigestStatus.QUEUED, worker="", lease_until=None
    )
    reason = "Its worker stopped while handing the digest over: it may have been sent."
    with transaction.atomic():
        lost = list(
            Digest.objects.select_for_update()
            .filter(status=DigestStatus.IN_FLIGHT, lease_until__lt=now)
            .values_list("pk", flat=True)
        )
        Digest.objects.filter(pk__in=lost).update(
            status=DigestStatus.UNCERTAIN, lease_until=None, last_error=reason
        )
        ledger.digest_uncertain(digest_ids=lost, reason=reason)
    return requeued, len(lost)


def digests_run(*, task_id: str = "") -> bool:
    """What beat's task does: sweep, collect, then send for a while. True if work remains."""
    worker = f"{socket.gethostname()}:{task_id or uuid.uuid4().hex}"
    digests_sweep()
    digests_collect()
    deadline = timezone.now() + RUN_BUDGET
    while timezone.now() < deadline:
        if not digest_send_next(worker=worker):
            return False
    return True
