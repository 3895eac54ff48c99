"""The send loop: a task claims batches of a campaign's rows, composes each message, paces
it to the transport's limits, hands it to the server and records the outcome in the
ledger (``delivery.ledger``), until the task's budget is spent or nothing is left.

Every claim re-reads the campaign's status, so a pause takes effect within a batch;
at most one row per process is ever ``in_flight``.
"""

import logging
import socket
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.mail.backends.smtp import EmailBackend as SMTPBackend
from django.utils import timezone

from campaigns.models import Campaign, Status
from campaigns.services import campaign_render, campaign_variant, campaign_variants
from newsletter.encryption import DecryptionError
from subscribers.models import MailFormat, Subscriber

from .. import transports
from ..audience import eligible
from ..ledger import (
    Flight,
    claim,
    defer,
    land_all,
    lease,
    record_call_failure,
    record_failure,
    release,
    skip,
    take_off_all,
)
from ..lifecycle import finish_if_done, pause_for_errors
from ..messages import Addressee, CampaignMessages, MergeTemplate, send_raw
from ..models import Delivery
from ..throttle import Rate, Throttle
from ..transports import Transport

logger = logging.getLogger(__name__)

TASK_BUDGET = timedelta(seconds=50)
# A spent quota with room again within this many seconds is waited for; a longer wait
# puts the rows back in the queue with a time (``ledger.defer``).
QUOTA_SLEEP_SECONDS = 5
MIN_ATTEMPTS_FOR_ERROR_RATE = 50


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
                transport = transports.transport_for(campaign.newsletter_id)
            except DecryptionError:
                logger.exception("sending backend unreadable", extra={"campaign": campaign_id})
                pause_for_errors(campaign_id)
                return False
        rows = claim(campaign_id=campaign_id, size=_batch_size(transport), worker=worker)
        if not rows:
            finish_if_done(campaign_id)
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
                pause_for_errors(campaign_id)
                return False
            if not within_quota:
                release([row[0] for row in rows], worker)  # the other variants' rows
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


def _batch_size(transport: Transport) -> int:
    """Enough rows for one full ESP call when the backend batches calls; never so many
    that a slow rate holds them past their lease."""
    size = settings.SEND_BATCH_SIZE
    if transport.batches_calls:
        size = max(size, transport.recipients_per_call)
    if transport.per_second > 0:
        size = min(size, int(transport.per_second * lease().total_seconds() / 4))
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
        skip(skipped, worker)
    transport = pace.transport
    template = (
        messages.merge_template(transport.merge_field_format) if transport.batches_calls else None
    )
    backend = transport.connection()
    try:
        try:
            backend.open()
        except Exception as error:  # e.g. a refused SMTP host: each row records why
            outcomes.failed += sum(record_failure(a, worker, error)[1] for a in addressees)
            return True
        if template is not None:
            # Readers whose copy differs in shape (no tracking, text only) go one by one.
            shared, own = template.split(addressees)
            if own and not _send_one_by_one(messages, own, backend, worker, pace, outcomes):
                release([a.delivery_id for a in shared], worker)
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
                defer([a.delivery_id for a in addressees[index:]], worker, wait)
                return False
            if not flight.take_off(addressee.delivery_id):
                continue
            try:
                message_id = _transmit(messages, addressee, backend, raw_smtp)
            except Exception as error:  # classified below; nothing is swallowed silently
                flight.flush()
                reconnect, final = record_failure(addressee, worker, error)
                outcomes.failed += final
                if reconnect:
                    release([a.delivery_id for a in addressees[index + 1 :]], worker)
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
            defer([a.delivery_id for rest in calls[number:] for a in rest], worker, wait)
            return False
        taken = take_off_all([a.delivery_id for a in call], worker)
        call = [addressee for addressee in call if addressee.delivery_id in taken]
        if not call:
            continue
        message = template.build(call)
        message.connection = backend
        try:
            message.send()
        except Exception as error:  # classified below; nothing is swallowed silently
            outcomes.failed += record_call_failure(call, worker, error)
            continue
        sent, failed = land_all(call, message, worker)
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


def _esp_message_id(message) -> str:
    status = getattr(message, "anymail_status", None)
    if status is not None and status.message_id:
        return str(status.message_id)
    return message.extra_headers.get("Message-ID", "")
