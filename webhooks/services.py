"""Webhook endpoints, and the outbox that carries each event to them.

An event becomes one ``WebhookDelivery`` row per interested endpoint, written in
the transaction that caused it; the post itself happens in a task queued after
commit. Each attempt is logged; failures are retried with exponential backoff and
jitter until ``WEBHOOKS_MAX_ATTEMPTS``, then the row is marked failed for the owner
to see. Delivery is at least once: receivers deduplicate on ``Crier-Event-Id``.
"""

import json
import logging
import random
import time
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from newsletter import outbound as client
from newsletter.models import Newsletter

from . import signing, tasks
from .events import SUBSCRIBABLE, Event
from .models import Attempt, Endpoint, OutcomeStatus, WebhookDelivery

logger = logging.getLogger(__name__)

EXCERPT_CHARS = 500
USER_AGENT = "Crier-Webhooks/1"


def _max_attempts() -> int:
    return settings.WEBHOOKS_MAX_ATTEMPTS


# Endpoints


def validate_url(url: str) -> None:
    """Refuse a URL that could never be delivered to (scheme, literal private address)."""
    try:
        parts = client.check_url(url, allow_http=settings.WEBHOOKS_ALLOW_HTTP)
    except client.Refused as error:
        raise ValidationError({"url": str(error)}, code="refused") from None
    host = parts.hostname or ""
    try:
        literal = client.is_public(host)
    except ValueError:
        return  # a name: checked at every delivery, since what it resolves to may change
    if not literal and not settings.WEBHOOKS_ALLOW_PRIVATE:
        raise ValidationError({"url": f"{host} is not a public address"}, code="refused")


@transaction.atomic
def endpoint_create(
    *, newsletter: Newsletter, url: str, events: list[str], description: str = ""
) -> Endpoint:
    """Register an endpoint; its ``secret`` is generated here and shown once by the caller."""
    validate_url(url)
    unknown = set(events) - set(SUBSCRIBABLE)
    if unknown or not events:
        raise ValidationError({"events": "Choose at least one known event."}, code="events")
    endpoint = Endpoint(
        newsletter=newsletter,
        url=url,
        events=[event for event in SUBSCRIBABLE if event in events],
        description=description,
    )
    endpoint.full_clean()  # lengths and URL syntax, whoever the caller is
    endpoint.save()
    return endpoint


@transaction.atomic
def endpoint_disable(*, endpoint: Endpoint) -> Endpoint:
    """Stop sending to it; what was still waiting is given up, so nothing posts later."""
    if not endpoint.active:
        return endpoint
    endpoint.active = False
    endpoint.disabled_at = timezone.now()
    endpoint.save(update_fields=["active", "disabled_at"])
    endpoint.deliveries.filter(status=OutcomeStatus.PENDING).update(
        status=OutcomeStatus.FAILED,
        finished_at=endpoint.disabled_at,
        next_attempt_at=None,
        last_error="endpoint disabled",
    )
    return endpoint


# The outbox


@transaction.atomic
def forget_contact(*, contact_id: int, newsletter_id: int) -> int:
    """An erased contact leaves nothing in the newsletter's webhook outbox: its address
    and name are blanked in the payloads about it (still to be posted or not), and
    what the endpoints answered to them (an echo of the payload) is dropped."""
    rows = list(
        WebhookDelivery.objects.select_for_update().filter(
            endpoint__newsletter_id=newsletter_id, payload__data__subscriber__id=contact_id
        )
    )
    for row in rows:
        row.payload["data"]["subscriber"].update(email=None, name="")
        row.last_error = ""
    WebhookDelivery.objects.bulk_update(rows, ["payload", "last_error"])
    Attempt.objects.filter(delivery__in=rows).update(response_excerpt="", error="")
    return len(rows)


def enqueue(
    *,
    newsletter: Newsletter,
    event: str,
    data: dict,
    endpoints: list[Endpoint] | None = None,
) -> list[WebhookDelivery]:
    """Write the event for each active endpoint that wants it; post them after commit."""
    if endpoints is None:
        endpoints = list(Endpoint.objects.filter(newsletter=newsletter, active=True))
    endpoints = [endpoint for endpoint in endpoints if endpoint.active and endpoint.wants(event)]
    if not endpoints:
        return []
    now = timezone.now()
    event_id = uuid.uuid4()
    payload = {
        "id": str(event_id),
        "type": event,
        "created_at": now.isoformat(),
        "newsletter": newsletter.slug,
        "data": data,
    }
    rows = WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            endpoint=endpoint, event=event, event_id=event_id, payload=payload, next_attempt_at=now
        )
        for endpoint in endpoints
    )
    for row in rows:
        tasks.deliver.delay_on_commit(row.pk)
    return rows


def send_test(*, endpoint: Endpoint) -> WebhookDelivery:
    """Queue a ``ping`` to one endpoint, whatever events it chose."""
    (row,) = enqueue(
        newsletter=endpoint.newsletter,
        event=Event.PING,
        data={"endpoint": endpoint.pk, "message": "Hello from Crier."},
        endpoints=[endpoint],
    )
    return row


def _lease() -> timedelta:
    """Long enough for one attempt to finish, so no second worker starts it meanwhile."""
    return timedelta(seconds=settings.WEBHOOKS_TIMEOUT_SECONDS * 2 + 30)


def backoff(attempts: int) -> timedelta:
    """Exponential with jitter: about 1, 2, 4… minutes after each failure, at most 6 hours."""
    ceiling = min(6 * 3600, 60 * 2 ** max(0, attempts - 1))
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))  # noqa: S311


def _claim(delivery_id: int) -> WebhookDelivery | None:
    """Take a due row by moving its due time past a lease; None if not due or taken."""
    now = timezone.now()
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, status=OutcomeStatus.PENDING, next_attempt_at__lte=now
    ).update(next_attempt_at=now + _lease(), attempts=F("attempts") + 1)
    if not claimed:
        return None
    return WebhookDelivery.objects.select_related("endpoint__newsletter").get(pk=delivery_id)


def headers_for(delivery: WebhookDelivery, body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Crier-Event": delivery.event,
        "Crier-Event-Id": str(delivery.event_id),
        signing.HEADER: signing.sign(secret=delivery.endpoint.secret, body=body),
    }


def deliver(*, delivery_id: int) -> str | None:
    """Make one attempt at a due delivery; return its new status (None if not ours to try)."""
    delivery = _claim(delivery_id)
    if delivery is None:
        return None
    if not delivery.endpoint.active:
        _finish(delivery, OutcomeStatus.FAILED, error="endpoint disabled")
        return OutcomeStatus.FAILED
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    attempt = Attempt(delivery=delivery, started_at=timezone.now())
    started = time.monotonic()
    permanent = False
    try:
        reply = client.post(
            delivery.endpoint.url,
            body=body,
            headers=headers_for(delivery, body),
            allow_private=settings.WEBHOOKS_ALLOW_PRIVATE,
            allow_http=settings.WEBHOOKS_ALLOW_HTTP,
            timeout=settings.WEBHOOKS_TIMEOUT_SECONDS,
            max_bytes=settings.WEBHOOKS_MAX_RESPONSE_BYTES,
        )
        attempt.status_code = reply.status
        attempt.response_excerpt = reply.body.decode(errors="replace")[:EXCERPT_CHARS]
        if not attempt.succeeded:
            attempt.error = f"HTTP {reply.status}"
    except client.Refused as error:
        attempt.error, permanent = f"refused: {error}", True
    except client.TransportError as error:
        attempt.error = str(error)[:EXCERPT_CHARS]
    attempt.duration_ms = int((time.monotonic() - started) * 1000)
    return _record(delivery, attempt, permanent)


@transaction.atomic
def _record(delivery: WebhookDelivery, attempt: Attempt, permanent: bool) -> str:
    attempt.save()
    delivery.last_status_code = attempt.status_code
    if attempt.succeeded:
        return _finish(delivery, OutcomeStatus.SUCCEEDED)
    if permanent or delivery.attempts >= _max_attempts():
        logger.warning(
            "webhook given up",
            extra={"delivery": delivery.pk, "attempts": delivery.attempts, "error": attempt.error},
        )
        return _finish(delivery, OutcomeStatus.FAILED, error=attempt.error)
    delivery.last_error = attempt.error
    delivery.next_attempt_at = timezone.now() + backoff(delivery.attempts)
    delivery.save(update_fields=["last_status_code", "last_error", "next_attempt_at"])
    return OutcomeStatus.PENDING


def _finish(delivery: WebhookDelivery, status: str, error: str = "") -> str:
    delivery.status = status
    delivery.last_error = error
    delivery.finished_at = timezone.now()
    delivery.next_attempt_at = None
    delivery.save(
        update_fields=["status", "last_error", "finished_at", "next_attempt_at", "last_status_code"]
    )
    return status


def redispatch_due(*, limit: int = 500) -> int:
    """Queue every pending row whose time has come: retries, and rows the broker lost."""
    due = list(
        WebhookDelivery.objects.filter(
            status=OutcomeStatus.PENDING, next_attempt_at__lte=timezone.now()
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    for delivery_id in due:
        tasks.deliver.delay(delivery_id)
    return len(due)


def prune(*, older_than_days: int = 30) -> int:
    """Forget finished deliveries (and their attempts) after a while."""
    cutoff = timezone.now() - timedelta(days=older_than_days)
    deleted, _ = WebhookDelivery.objects.filter(
        finished_at__lt=cutoff, status__in=(OutcomeStatus.SUCCEEDED, OutcomeStatus.FAILED)
    ).delete()
    return deleted
