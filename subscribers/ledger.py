"""The tamper-evident consent ledger: append events, verify chains, erase personal data."""

import hashlib
import json
from dataclasses import dataclass

from django.utils import timezone

from newsletter.models import Newsletter

from .models import ConsentEvent, MailingList, Subscriber, address_digest, digest


def _content_hash(event: ConsentEvent) -> str:
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
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


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
    newsletter: Newsletter | None = None,
    mailing_list: MailingList | None = None,
    wording: str = "",
    details: dict | None = None,
    evidence: Evidence | None = None,
) -> ConsentEvent:
    """Append one event. The caller holds a row lock on the subscriber (services do)."""
    record_evidence = (
        evidence is not None and newsletter is not None and newsletter.record_consent_ip
    )
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
    event.hash = _content_hash(event)
    event.save()
    return event


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
        if _content_hash(event) != event.hash:
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
