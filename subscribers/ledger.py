"""The tamper-evident consent ledger: append events, verify chains, erase personal data."""

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.utils import timezone

from newsletter.models import Newsletter

from .models import ConsentEvent, MailingList, Subscriber, address_digest, digest


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(event: ConsentEvent) -> str:
    content = {
        "subscriber": event.subscriber_id,
        "newsletter": event.newsletter_id,
        "mailing_list": event.mailing_list_id,
        "action": event.action,
        "source": event.source,
        "wording": event.wording,
        "details": event.details,
        "email": event.email_digest,
        "ip": event.ip_digest,
        "user_agent": event.user_agent_digest,
        "created_at": event.created_at.isoformat(),
        "previous": event.previous_hash,
    }
    return hashlib.sha256(_canonical(content).encode()).hexdigest()


@dataclass(frozen=True)
class Evidence:
    """Where a consent came from: recorded only if the newsletter asks for it."""

    ip_address: str | None = None
    user_agent: str = ""


def append(
    *,
    subscriber: Subscriber,
    action: str,
    source: str,
    mailing_list: MailingList | None = None,
    wording: str = "",
    details: dict | None = None,
    evidence: Evidence | None = None,
) -> ConsentEvent:
    """Append one event to a contact's chain; it is about the contact's own newsletter.

    The caller holds a row lock on the contact (services do).
    """
    newsletter = subscriber.newsletter
    if mailing_list is not None and mailing_list.newsletter_id != newsletter.pk:
        raise ValueError("A consent event names a list of another newsletter.")
    record_evidence = evidence is not None and newsletter.record_consent_ip
    ip_address = evidence.ip_address if record_evidence else None
    user_agent = evidence.user_agent[:500] if record_evidence else ""
    previous = (
        ConsentEvent.objects.filter(subscriber=subscriber)
        .order_by("-id")
        .values_list("hash", flat=True)
        .first()
    )
    event = ConsentEvent(
        subscriber=subscriber,
        newsletter=newsletter,
        mailing_list=mailing_list,
        action=action,
        source=source,
        wording=wording,
        details=details or {},
        email=subscriber.email or "",
        ip_address=ip_address,
        user_agent=user_agent,
        email_digest=address_digest(subscriber.email or ""),
        ip_digest=digest(ip_address or ""),
        user_agent_digest=digest(user_agent),
        created_at=timezone.now(),
        previous_hash=previous or "",
    )
    event.hash = content_hash(event)
    event.save()
    return event


@dataclass(frozen=True)
class BulkEntry:
    """One subscriber's next event in a bulk append: who, their address, their last hash.

    ``details``, when given, replaces the shared details for this event alone, and
    ``ip_address`` is where the consent was given from (an import cites each
    person's own opt-in evidence this way; the caller checks the newsletter records
    IP addresses).
    """

    subscriber_id: int
    email: str
    previous_hash: str
    details: dict | None = None
    ip_address: str | None = None


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_text(value: str) -> str:
    """Escape a value for PostgreSQL's COPY text format."""
    return value.translate(_COPY_ESCAPES)


def bulk_append(
    *,
    entries: Iterable[BulkEntry],
    action: str,
    source: str,
    newsletter: Newsletter,
    mailing_list: MailingList | None,
    wording: str,
    details: dict,
    created_at: datetime,
) -> int:
    """Append the same event to many subscribers' chains with one COPY; return the count.

    Hashes are exactly ``content_hash``'s (so ``verify_chain`` checks them), but the
    canonical JSON is assembled from fragments serialised once, because all that
    differs between events is the subscriber, the address digest, the previous hash
    and, for entries that bring their own, the details and the IP address. A browser
    is never part of a bulk event. The caller holds the row locks of subscribers that
    existed before its transaction (imports do).
    """
    prefix = f'{{"action":{_canonical(action)},"created_at":{_canonical(created_at.isoformat())},'
    shared_head = f'{prefix}"details":{_canonical(details)},"email":"'
    before_ip = '","ip":"'
    after_ip = (
        f'","mailing_list":{_canonical(mailing_list.pk if mailing_list else None)},'
        f'"newsletter":{_canonical(newsletter.pk)},"previous":"'
    )
    tail_source = f',"source":{_canonical(source)},"subscriber":'
    tail = f',"user_agent":"","wording":{_canonical(wording)}}}'
    constant_head = "\t".join(
        [
            str(newsletter.pk),
            str(mailing_list.pk) if mailing_list else "\\N",
            copy_text(action),
            copy_text(source),
            copy_text(wording),
        ]
    )
    shared_constant = f"{constant_head}\t{copy_text(_canonical(details))}"
    stamp = created_at.isoformat()
    null = "\\N"
    sha256 = hashlib.sha256
    lines = []
    for entry in entries:
        head, constant = shared_head, shared_constant
        if entry.details is not None:
            own = _canonical(entry.details)
            head = f'{prefix}"details":{own},"email":"'
            constant = f"{constant_head}\t{copy_text(own)}"
        email_key = address_digest(entry.email)
        ip_key = digest(entry.ip_address or "")
        canonical = (
            f"{head}{email_key}{before_ip}{ip_key}{after_ip}{entry.previous_hash}"
            f'"{tail_source}{entry.subscriber_id}{tail}'
        )
        event_hash = sha256(canonical.encode()).hexdigest()
        lines.append(
            f"{event_hash}\t{entry.subscriber_id}\t{constant}\t{copy_text(entry.email)}"
            f"\t{entry.ip_address or null}\t\t{email_key}\t{ip_key}\t\t{stamp}"
            f"\t{entry.previous_hash}\n"
        )
    if not lines:
        return 0
    # In hash order, the unique index on hash is filled page by page, not at random.
    lines.sort()
    table = ConsentEvent._meta.db_table
    with (
        connection.cursor() as cursor,
        cursor.copy(
            f"COPY {table} (hash, subscriber_id, newsletter_id, mailing_list_id, action, source,"
            " wording, details, email, ip_address, user_agent, email_digest, ip_digest,"
            " user_agent_digest, created_at, previous_hash) FROM STDIN"
        ) as copy,
    ):
        for line in lines:  # psycopg buffers them: no second copy of the whole chunk
            copy.write(line)
    return len(lines)


@dataclass(frozen=True)
class ChainReport:
    valid: bool
    events: int
    problem: str = ""


def verify_chain(subscriber: Subscriber) -> ChainReport:
    """Recompute every hash and link; say which event breaks the chain, if any."""
    previous = ""
    events = list(ConsentEvent.objects.filter(subscriber=subscriber).order_by("id"))
    for event in events:
        if event.previous_hash != previous:
            return ChainReport(
                False, len(events), f"event {event.pk} does not follow its predecessor"
            )
        if content_hash(event) != event.hash:
            return ChainReport(False, len(events), f"event {event.pk} was altered")
        if event.email and address_digest(event.email) != event.email_digest:
            return ChainReport(False, len(events), f"event {event.pk} has a replaced address")
        if event.ip_address and digest(event.ip_address) != event.ip_digest:
            return ChainReport(False, len(events), f"event {event.pk} has a replaced IP address")
        if event.user_agent and digest(event.user_agent) != event.user_agent_digest:
            return ChainReport(False, len(events), f"event {event.pk} has a replaced user agent")
        previous = event.hash
    return ChainReport(True, len(events))


def erase_personal_data(subscriber: Subscriber) -> int:
    """Blank the personal values of every event; their digests keep the chain verifiable."""
    return ConsentEvent.objects.filter(subscriber=subscriber).update(
        email="", ip_address=None, user_agent=""
    )
