"""Everything that changes who gets mail. Each change writes the consent ledger in
the same transaction, under a row lock on the subscriber, so concurrent clicks on
the same link serialise instead of corrupting state or the ledger's chain.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from email_validator import EmailNotValidError, validate_email

from newsletter import ratelimit
from newsletter.models import Newsletter

from . import extensions, ledger, signals, tasks, tokens
from .ledger import Evidence
from .models import (
    ConsentAction,
    ConsentSource,
    MailingList,
    OptIn,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
    Suppression,
    SuppressionReason,
    address_digest,
)
from .signals import subscriber_erased
from .tokens import Claim

logger = logging.getLogger(__name__)

LIVE = (SubscriptionStatus.PENDING, SubscriptionStatus.CONFIRMED)
# Reasons a new, confirmed request from the person may lift; the others need an admin.
LIFTABLE_BY_CONSENT = {SuppressionReason.UNSUBSCRIBED}
CONFIRMATION_MAILS_PER_ADDRESS_PER_HOUR = 3


def normalize_email(raw: str) -> str:
    """Trim, validate with email-validator and lower-case the domain (not the local part)."""
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise ValidationError(str(error), code="invalid_email") from None


# Suppression


def suppression_reason(email: str) -> str | None:
    return (
        Suppression.objects.filter(email_digest=address_digest(email))
        .values_list("reason", flat=True)
        .first()
    )


def suppress(*, email: str, reason: str, note: str = "") -> Suppression:
    """Add or harden a suppression. An unsubscribe never softens a stronger reason, and
    an erasure stays one (a late bounce for an erased address must not relabel it)."""
    suppression, created = Suppression.objects.get_or_create(
        email_digest=address_digest(email), defaults={"reason": reason, "note": note}
    )
    if (
        not created
        and reason != SuppressionReason.UNSUBSCRIBED
        and suppression.reason not in (reason, SuppressionReason.ERASED)
    ):
        suppression.reason = reason
        suppression.note = note
        suppression.save(update_fields=["reason", "note"])
    return suppression


def _lift_consent_suppression(email: str) -> None:
    Suppression.objects.filter(
        email_digest=address_digest(email), reason__in=LIFTABLE_BY_CONSENT
    ).delete()


# Subscribe and confirm


@dataclass
class SubscribeOutcome:
    """What happened, for the caller's logs and tests; pages never show it to the visitor."""

    subscriber: Subscriber | None
    pending: list[MailingList] = field(default_factory=list)
    confirmed: list[MailingList] = field(default_factory=list)
    confirmation_queued: bool = False


def _existing_or_new_subscriber(address: str, *, name: str, language: str) -> Subscriber:
    """One row per address even when two requests create it at the same moment."""
    existing = Subscriber.objects.with_address(address).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return Subscriber.objects.create(email=address, name=name, language=language)
    except IntegrityError:
        return Subscriber.objects.with_address(address).get()


def _locked_subscriber(pk: int) -> Subscriber:
    return Subscriber.objects.select_for_update().get(pk=pk)


def _announce(
    signal, subscriber: Subscriber, newsletter: Newsletter, lists: list[MailingList], **extra
) -> None:
    """Tell other apps (webhooks) inside this transaction, so their rows share its fate."""
    if lists:
        signal.send(
            sender=Subscriber, subscriber=subscriber, newsletter=newsletter, lists=lists, **extra
        )


@transaction.atomic
def subscribe(
    *,
    newsletter: Newsletter,
    email: str,
    lists: list[MailingList],
    source: str,
    wording: str,
    name: str = "",
    language: str = "",
    evidence: Evidence | None = None,
    attestation: str = "",
    actor: str = "",
    referrer: Subscriber | None = None,
) -> SubscribeOutcome:
    """Start (or restart) a subscription to ``lists``; double opt-in unless a list says single.

    With an ``attestation`` (a maintainer or an API client stating how the person
    consented elsewhere), lists are confirmed at once, but
    never for a suppressed address or a list the person left: only they can undo that.
    Repeating it duplicates nothing. A suppressed address that needs an admin is
    left alone, silently: callers must answer the same whatever happened. ``actor``
    (who added the person, when it was not themselves) goes to the ledger, and so
    does ``referrer``, a subscriber of the newsletter whose referral link brought
    the person (by id only: the ledger never holds the referrer's address).
    """
    address = normalize_email(email)
    if any(mailing_list.newsletter_id != newsletter.pk for mailing_list in lists):
        raise ValidationError("A list belongs to another newsletter.", code="foreign_list")
    reason = suppression_reason(address)
    if reason is not None and (attestation or reason not in LIFTABLE_BY_CONSENT):
        logger.info("subscribe ignored: suppressed", extra={"reason": reason})
        return SubscribeOutcome(subscriber=None)

    subscriber = _existing_or_new_subscriber(address, name=name, language=language)
    subscriber = _locked_subscriber(subscriber.pk)
    if subscriber.status in (SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED):
        return SubscribeOutcome(subscriber=None)
    if name and not subscriber.name:
        subscriber.name = name
        subscriber.save(update_fields=["name", "updated_at"])

    outcome = SubscribeOutcome(subscriber=subscriber)
    started = []
    now = timezone.now()
    if referrer is not None and referrer.pk == subscriber.pk:
        referrer = None  # one's own link brings nobody
    for mailing_list in lists:
        subscription, created = Subscription.objects.get_or_create(
            subscriber=subscriber, mailing_list=mailing_list
        )
        if subscription.status == SubscriptionStatus.CONFIRMED:
            continue
        if attestation and subscription.status == SubscriptionStatus.UNSUBSCRIBED:
            continue
        at_once = mailing_list.opt_in == OptIn.SINGLE or bool(attestation)
        if subscription.status == SubscriptionStatus.PENDING and not created and not at_once:
            outcome.pending.append(mailing_list)
            continue
        subscription.status = (
            SubscriptionStatus.CONFIRMED if at_once else SubscriptionStatus.PENDING
        )
        subscription.confirmed_at = now if at_once else None
        subscription.unsubscribed_at = None
        subscription.save()
        details = {"opt_in": "attested" if attestation else mailing_list.opt_in}
        if attestation:
            details["attestation"] = attestation
        if actor:
            details["actor"] = actor
        if referrer is not None:
            details["referred_by"] = referrer.pk
        ledger.append(
            subscriber=subscriber,
            action=ConsentAction.SUBSCRIBED,
            source=source,
            newsletter=newsletter,
            mailing_list=mailing_list,
            wording=wording,
            details=details,
            evidence=evidence,
        )
        (outcome.confirmed if at_once else outcome.pending).append(mailing_list)
        started.append(mailing_list)

    if outcome.confirmed:
        _reactivate(subscriber)
    if outcome.pending:
        outcome.confirmation_queued = _queue_confirmation(subscriber, newsletter)
    _announce(signals.subscribed, subscriber, newsletter, started, referrer=referrer)
    _announce(signals.confirmed, subscriber, newsletter, outcome.confirmed)
    return outcome


def referrer_for(*, newsletter: Newsletter, code: str) -> Subscriber | None:
    """The subscriber of ``newsletter`` whose referral code this is, or None.

    A code names its newsletter: one made for another newsletter, or for a person
    who was erased or never subscribed here, brings nobody.
    """
    try:
        claim = tokens.read_referral_code(code)
    except tokens.InvalidToken:
        return None
    if claim.newsletter_id != newsletter.pk:
        return None
    return (
        Subscriber.objects.filter(
            pk=claim.subscriber_id,
            subscriptions__mailing_list__newsletter=newsletter,
        )
        .exclude(status=SubscriberStatus.ERASED)
        .first()
    )


def _reactivate(subscriber: Subscriber) -> None:
    if subscriber.status == SubscriberStatus.UNSUBSCRIBED:
        subscriber.status = SubscriberStatus.ACTIVE
        subscriber.save(update_fields=["status", "updated_at"])
    _lift_consent_suppression(subscriber.email)


def _queue_confirmation(subscriber: Subscriber, newsletter: Newsletter) -> bool:
    """At most a few confirmation mails per address and hour: no subscription bombing."""
    if not ratelimit.hit(
        "confirmation-mail",
        subscriber.email,
        limit=CONFIRMATION_MAILS_PER_ADDRESS_PER_HOUR,
        window_seconds=3600,
    ):
        logger.warning("confirmation mail rate-limited", extra={"subscriber": subscriber.pk})
        return False
    tasks.send_confirmation.delay_on_commit(subscriber.pk, newsletter.pk)
    return True


@dataclass
class ConfirmOutcome:
    newsletter: Newsletter
    subscriber: Subscriber
    confirmed: list[MailingList]


@transaction.atomic
def confirm(*, claim: Claim, evidence: Evidence | None = None) -> ConfirmOutcome:
    """Confirm every pending subscription of the claim's newsletter; idempotent."""
    newsletter = Newsletter.objects.get(pk=claim.newsletter_id)
    subscriber = _locked_subscriber(claim.subscriber_id)
    pending = list(
        Subscription.objects.filter(
            subscriber=subscriber,
            mailing_list__newsletter=newsletter,
            status=SubscriptionStatus.PENDING,
        ).select_related("mailing_list")
    )
    now = timezone.now()
    for subscription in pending:
        subscription.status = SubscriptionStatus.CONFIRMED
        subscription.confirmed_at = now
        subscription.save(update_fields=["status", "confirmed_at"])
        ledger.append(
            subscriber=subscriber,
            action=ConsentAction.CONFIRMED,
            source=ConsentSource.CONFIRMATION_LINK,
            newsletter=newsletter,
            mailing_list=subscription.mailing_list,
            evidence=evidence,
        )
    confirmed = [subscription.mailing_list for subscription in pending]
    if pending:
        _reactivate(subscriber)
    _announce(signals.confirmed, subscriber, newsletter, confirmed)
    return ConfirmOutcome(newsletter, subscriber, confirmed)


def resend_confirmation(*, claim: Claim) -> bool:
    """Queue a fresh confirmation link when the person still has something to confirm."""
    with transaction.atomic():
        subscriber = _locked_subscriber(claim.subscriber_id)
        has_pending = Subscription.objects.filter(
            subscriber=subscriber,
            mailing_list__newsletter_id=claim.newsletter_id,
            status=SubscriptionStatus.PENDING,
        ).exists()
        if not has_pending or subscriber.email is None:
            return False
        return _queue_confirmation(subscriber, Newsletter.objects.get(pk=claim.newsletter_id))


# Preferences and unsubscribe


def lists_for_preferences(subscriber: Subscriber, newsletter: Newsletter) -> QuerySet[MailingList]:
    """Public lists, plus private ones the person already belongs to."""
    return newsletter.lists.filter(
        Q(public=True) | Q(subscriptions__subscriber=subscriber, subscriptions__status__in=LIVE)
    ).distinct()


@dataclass(frozen=True)
class Preferences:
    lists: frozenset[int]
    name: str
    language: str
    tracking_opt_out: bool
    paused_until: datetime | None


@transaction.atomic
def update_preferences(
    *, claim: Claim, preferences: Preferences, evidence: Evidence | None = None
) -> list[str]:
    """Apply the preference center's form; return what changed (for the confirmation)."""
    newsletter = Newsletter.objects.get(pk=claim.newsletter_id)
    subscriber = _locked_subscriber(claim.subscriber_id)
    changed = []
    offered = {
        mailing_list.pk: mailing_list
        for mailing_list in lists_for_preferences(subscriber, newsletter)
    }
    current = {
        subscription.mailing_list_id: subscription
        for subscription in Subscription.objects.filter(
            subscriber=subscriber, mailing_list__in=offered.values()
        )
    }
    now = timezone.now()
    added, removed = [], []
    for list_id, mailing_list in offered.items():
        subscription = current.get(list_id)
        live = subscription is not None and subscription.status in LIVE
        if list_id in preferences.lists and not live:
            Subscription.objects.update_or_create(
                subscriber=subscriber,
                mailing_list=mailing_list,
                defaults={
                    "status": SubscriptionStatus.CONFIRMED,
                    "confirmed_at": now,
                    "unsubscribed_at": None,
                },
            )
            ledger.append(
                subscriber=subscriber,
                action=ConsentAction.SUBSCRIBED,
                source=ConsentSource.PREFERENCE_CENTER,
                newsletter=newsletter,
                mailing_list=mailing_list,
                wording=newsletter.consent_text,
                details={"opt_in": "preference_center"},
                evidence=evidence,
            )
            changed.append(f"+{mailing_list.slug}")
            added.append(mailing_list)
        elif list_id not in preferences.lists and live:
            _end_subscription(subscription, ConsentSource.PREFERENCE_CENTER, evidence, now)
            changed.append(f"-{mailing_list.slug}")
            removed.append(mailing_list)
    _announce(signals.subscribed, subscriber, newsletter, added)
    _announce(signals.confirmed, subscriber, newsletter, added)
    _announce(signals.unsubscribed, subscriber, newsletter, removed)

    profile = {
        "name": preferences.name,
        "language": preferences.language,
        "tracking_opt_out": preferences.tracking_opt_out,
        "paused_until": preferences.paused_until,
    }
    fields = [key for key, value in profile.items() if getattr(subscriber, key) != value]
    if fields:
        for key in fields:
            setattr(subscriber, key, profile[key])
        subscriber.save(update_fields=[*fields, "updated_at"])
        ledger.append(
            subscriber=subscriber,
            action=ConsentAction.PREFERENCES_CHANGED,
            source=ConsentSource.PREFERENCE_CENTER,
            newsletter=newsletter,
            details={
                "changed": fields,
                "tracking_opt_out": subscriber.tracking_opt_out,
                "paused_until": (
                    subscriber.paused_until.isoformat() if subscriber.paused_until else None
                ),
            },
            evidence=evidence,
        )
        changed.extend(fields)
    if subscriber.status == SubscriberStatus.UNSUBSCRIBED and any(
        c.startswith("+") for c in changed
    ):
        _reactivate(subscriber)
    return changed


def _end_subscription(
    subscription: Subscription,
    source: str,
    evidence: Evidence | None,
    now: datetime,
    actor: str = "",
) -> None:
    subscription.status = SubscriptionStatus.UNSUBSCRIBED
    subscription.unsubscribed_at = now
    subscription.save(update_fields=["status", "unsubscribed_at"])
    ledger.append(
        subscriber=subscription.subscriber,
        action=ConsentAction.UNSUBSCRIBED,
        source=source,
        newsletter=subscription.mailing_list.newsletter,
        mailing_list=subscription.mailing_list,
        details={"actor": actor} if actor else None,
        evidence=evidence,
    )


@transaction.atomic
def unsubscribe(
    *,
    claim: Claim,
    source: str,
    mailing_list: MailingList | None = None,
    evidence: Evidence | None = None,
    actor: str = "",
) -> int:
    """End the claim's subscriptions to its newsletter (or one list); idempotent.

    ``actor`` names the maintainer who did it for the person (the dashboard).
    """
    subscriber = _locked_subscriber(claim.subscriber_id)
    live = Subscription.objects.filter(
        subscriber=subscriber,
        mailing_list__newsletter_id=claim.newsletter_id,
        status__in=LIVE,
    ).select_related("mailing_list__newsletter", "subscriber")
    if mailing_list is not None:
        live = live.filter(mailing_list=mailing_list)
    now = timezone.now()
    ended = []
    for subscription in live:
        subscription.subscriber = subscriber
        _end_subscription(subscription, source, evidence, now, actor)
        ended.append(subscription.mailing_list)
    if ended:
        _announce(signals.unsubscribed, subscriber, ended[0].newsletter, ended)
    return len(ended)


@transaction.atomic
def unsubscribe_everywhere(*, claim: Claim, source: str, evidence: Evidence | None = None) -> int:
    """Leave every list of every newsletter and suppress the address instance-wide."""
    subscriber = _locked_subscriber(claim.subscriber_id)
    return _leave_everything(subscriber, source, evidence, SubscriberStatus.UNSUBSCRIBED)


def _leave_everything(
    subscriber: Subscriber, source: str, evidence: Evidence | None, status: str
) -> int:
    """End every live subscription (each in the ledger), then suppress the address."""
    now = timezone.now()
    ended: dict[Newsletter, list[MailingList]] = {}
    for subscription in Subscription.objects.filter(
        subscriber=subscriber, status__in=LIVE
    ).select_related("mailing_list__newsletter"):
        subscription.subscriber = subscriber
        _end_subscription(subscription, source, evidence, now)
        ended.setdefault(subscription.mailing_list.newsletter, []).append(subscription.mailing_list)
    for newsletter, lists in ended.items():
        _announce(signals.unsubscribed, subscriber, newsletter, lists)
    if subscriber.email:
        subscriber.status = status
        subscriber.save(update_fields=["status", "updated_at"])
        reason = (
            SuppressionReason.COMPLAINT
            if status == SubscriberStatus.COMPLAINED
            else SuppressionReason.UNSUBSCRIBED
        )
        suppress(email=subscriber.email, reason=reason)
    return sum(len(lists) for lists in ended.values())


# What the receiving side reports (delivery/feedback.py calls these)


def _subscriber_by_address(email: str) -> Subscriber | None:
    found = Subscriber.objects.with_address(email).values_list("pk", flat=True)
    return _locked_subscriber(found[0]) if found else None


@transaction.atomic
def record_bounce(
    *, email: str, reason: str = SuppressionReason.HARD_BOUNCE, note: str = ""
) -> Subscriber | None:
    """The address does not exist, or keeps refusing mail: it is never mailed again.

    Consent is untouched (the person withdrew nothing), so the ledger is not written;
    the subscriber shows as bounced, and only an admin can lift the suppression.
    """
    suppress(email=email, reason=reason, note=note)
    subscriber = _subscriber_by_address(email)
    if subscriber is not None and subscriber.status in (
        SubscriberStatus.ACTIVE,
        SubscriberStatus.UNSUBSCRIBED,
    ):
        subscriber.status = SubscriberStatus.BOUNCED
        subscriber.save(update_fields=["status", "updated_at"])
    return subscriber


@transaction.atomic
def record_complaint(*, email: str, note: str = "") -> Subscriber | None:
    """A spam complaint withdraws consent everywhere (RFC 6449's advice to senders).

    Every list of every newsletter is left, each in the ledger as a complaint
    reported by the sending service; the address is suppressed as a complaint.
    """
    subscriber = _subscriber_by_address(email)
    if subscriber is not None and subscriber.status != SubscriberStatus.ERASED:
        _leave_everything(
            subscriber, ConsentSource.ESP_COMPLAINT, None, SubscriberStatus.COMPLAINED
        )
    suppress(email=email, reason=SuppressionReason.COMPLAINT, note=note)
    return subscriber


# Export and erasure


def export_data(subscriber: Subscriber) -> dict:
    """Everything Crier holds about a person, as a JSON-ready dict (GDPR art. 15 and 20).

    Other apps add what they keep under their own key (``extensions.PersonalData``).
    """
    subscriptions = subscriber.subscriptions.select_related("mailing_list__newsletter")
    events = subscriber.consent_events.select_related("mailing_list", "newsletter").order_by("id")
    return {
        "email": subscriber.email,
        "name": subscriber.name,
        "language": subscriber.language,
        "attributes": subscriber.attributes,
        "status": subscriber.status,
        "tracking_opt_out": subscriber.tracking_opt_out,
        "paused_until": _iso(subscriber.paused_until),
        "created_at": _iso(subscriber.created_at),
        "subscriptions": [
            {
                "newsletter": subscription.mailing_list.newsletter.name,
                "list": subscription.mailing_list.name,
                "status": subscription.status,
                "subscribed_at": _iso(subscription.created_at),
                "confirmed_at": _iso(subscription.confirmed_at),
                "unsubscribed_at": _iso(subscription.unsubscribed_at),
            }
            for subscription in subscriptions
        ],
        "consent_history": [
            {
                "at": _iso(event.created_at),
                "action": event.action,
                "source": event.source,
                "newsletter": event.newsletter.name if event.newsletter else None,
                "list": event.mailing_list.name if event.mailing_list else None,
                "wording": event.wording,
                "ip_address": event.ip_address,
                "user_agent": event.user_agent,
            }
            for event in events
        ],
        **extensions.exported(subscriber),
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@transaction.atomic
def erase(*, claim: Claim, source: str, actor: str = "") -> None:
    """Remove every personal value; keep only the suppression digest, so the address
    is never mailed again, and the ledger, whose chain still verifies. ``actor``
    names the maintainer who erased the person on their request (the dashboard)."""
    subscriber = _locked_subscriber(claim.subscriber_id)
    if subscriber.status == SubscriberStatus.ERASED:
        return
    email = subscriber.email or ""
    suppress(email=email, reason=SuppressionReason.ERASED)
    ledger.append(
        subscriber=subscriber,
        action=ConsentAction.ERASED,
        source=source,
        newsletter=Newsletter.objects.filter(pk=claim.newsletter_id).first(),
        details={"actor": actor} if actor else None,
    )
    ledger.erase_personal_data(subscriber)
    extensions.erase(subscriber)
    subscriber.subscriptions.all().delete()
    subscriber.email = None
    subscriber.name = ""
    subscriber.language = ""
    subscriber.attributes = {}
    subscriber.status = SubscriberStatus.ERASED
    subscriber.tracking_opt_out = False
    subscriber.paused_until = None
    subscriber.save()
    transaction.on_commit(
        lambda: subscriber_erased.send(sender=Subscriber, email=email), robust=True
    )
    logger.info("subscriber erased", extra={"subscriber": subscriber.pk})


# Changes through the API


@transaction.atomic
def update_subscriber(
    *,
    newsletter: Newsletter,
    subscriber: Subscriber,
    name: str | None = None,
    attributes: dict | None = None,
    lists: list[MailingList] | None = None,
    attestation: str = "",
    actor: str = "",
) -> Subscriber:
    """Change a subscriber's name, attributes and lists (within ``newsletter``) at once.

    ``attributes`` is merged as a JSON merge patch (RFC 7396, top level): a key set
    to None is removed. ``lists`` is the complete set wanted in this newsletter: new
    ones go through ``subscribe`` (double opt-in unless attested), missing ones
    through ``unsubscribe``, so each change is in the consent ledger.
    """
    subscriber = _locked_subscriber(subscriber.pk)
    fields = []
    if name is not None and name != subscriber.name:
        subscriber.name = name
        fields.append("name")
    if attributes is not None:
        merged = {**subscriber.attributes, **attributes}
        merged = {key: value for key, value in merged.items() if value is not None}
        if merged != subscriber.attributes:
            subscriber.attributes = merged
            fields.append("attributes")
    if fields:
        subscriber.save(update_fields=[*fields, "updated_at"])
    if lists is not None:
        wanted = {mailing_list.pk for mailing_list in lists}
        live = set(
            Subscription.objects.filter(
                subscriber=subscriber, mailing_list__newsletter=newsletter, status__in=LIVE
            ).values_list("mailing_list_id", flat=True)
        )
        claim = Claim(subscriber.pk, newsletter.pk)
        for mailing_list in newsletter.lists.filter(pk__in=live - wanted):
            unsubscribe(claim=claim, source=ConsentSource.API, mailing_list=mailing_list)
        added = [mailing_list for mailing_list in lists if mailing_list.pk not in live]
        if added:
            subscribe(
                newsletter=newsletter,
                email=subscriber.email,
                lists=added,
                source=ConsentSource.API,
                wording=newsletter.consent_text,
                attestation=attestation,
                actor=actor,
            )
    subscriber.refresh_from_db()
    return subscriber


# Lists


@transaction.atomic
def list_create(
    *,
    newsletter: Newsletter,
    name: str,
    slug: str,
    description: str = "",
    public: bool = True,
    opt_in: str = OptIn.DOUBLE,
) -> MailingList:
    """A new list; a slug already used in the newsletter is refused, naming the field."""
    _check_slug_free(newsletter, slug)
    return MailingList.objects.create(
        newsletter=newsletter,
        name=name,
        slug=slug,
        description=description,
        public=public,
        opt_in=opt_in,
    )


@transaction.atomic
def list_update(
    *,
    mailing_list: MailingList,
    name: str,
    slug: str,
    description: str,
    public: bool,
    opt_in: str,
) -> MailingList:
    """Change a list. Its subscriptions stay as they are: switching to single opt-in
    confirms nobody who is still pending."""
    _check_slug_free(mailing_list.newsletter, slug, exclude=mailing_list.pk)
    mailing_list.name = name
    mailing_list.slug = slug
    mailing_list.description = description
    mailing_list.public = public
    mailing_list.opt_in = opt_in
    mailing_list.save()
    return mailing_list


def _check_slug_free(newsletter: Newsletter, slug: str, exclude: int | None = None) -> None:
    taken = newsletter.lists.filter(slug=slug).exclude(pk=exclude).exists()
    if taken:
        raise ValidationError(
            {"slug": ValidationError("This newsletter already has a list with this slug.")}
        )
