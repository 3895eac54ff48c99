"""Everything that changes who gets mail. Each change writes the consent ledger in
the same transaction, under a row lock on the contact, so concurrent clicks on the
same link serialise instead of corrupting state or the ledger's chain.

Every function acts inside one newsletter: it takes the newsletter (or a signed
claim naming it) and only finds or creates contacts of that newsletter. The person's
own acts across newsletters are in ``preference_center`` (their choices, leaving
everything) and ``personal_data`` (export, stop all mail, erase me); suppression
scopes in ``suppressions``.
"""

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext
from email_validator import EmailNotValidError, validate_email

from newsletter import ratelimit
from newsletter.models import Newsletter, known_timezones

from . import ledger, signals, suppressions, tasks, tokens
from .fields import FieldSchema
from .ledger import Evidence
from .models import (
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    Frequency,
    MailingList,
    OptIn,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
    SuppressionReason,
    TrackingChoice,
)
from .tokens import Claim

logger = logging.getLogger(__name__)

LIVE = (SubscriptionStatus.PENDING, SubscriptionStatus.CONFIRMED)
CONFIRMATION_MAILS_PER_ADDRESS_PER_HOUR = 3
SLUG_TAKEN = "This newsletter already has a list with this slug."
# Where anyone on the internet may write: until the address confirms, what such a
# request says never changes an existing contact's profile.
PUBLIC_SOURCES = frozenset({ConsentSource.FORM})
# From counted as the newsletter says, to never counted individually, to not tracked.
TRACKING_STRICTNESS = (TrackingChoice.NEWSLETTER, TrackingChoice.AGGREGATE, TrackingChoice.NONE)


def stricter_tracking(wanted: str, current: str) -> bool:
    """Whether ``wanted`` tracks the person less than ``current``."""
    return TRACKING_STRICTNESS.index(wanted) > TRACKING_STRICTNESS.index(current)


def normalize_email(raw: str) -> str:
    """Trim, validate with email-validator and lower-case the domain (not the local part)."""
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise ValidationError(str(error), code="invalid_email") from None


# Contacts


def contact_for_claim(claim: Claim) -> Subscriber | None:
    """The contact a signed link names, in the newsletter it names.

    Links mailed before contacts were per newsletter name the person's shared row,
    which now belongs to one newsletter only: for the others, the contact split off
    it (``split_from``) is theirs.
    """
    contacts = Subscriber.objects.select_related("newsletter")
    return (
        contacts.filter(pk=claim.subscriber_id, newsletter_id=claim.newsletter_id).first()
        or contacts.filter(
            split_from=claim.subscriber_id, newsletter_id=claim.newsletter_id
        ).first()
    )


def lock_contact(pk: int) -> Subscriber:
    """The contact, row-locked (its own row only), with its newsletter loaded."""
    return (
        Subscriber.objects.select_related("newsletter").select_for_update(of=("self",)).get(pk=pk)
    )


def _locked_claim(claim: Claim) -> Subscriber:
    contact = contact_for_claim(claim)
    if contact is None:
        raise Subscriber.DoesNotExist(f"no contact for {claim}")
    return lock_contact(contact.pk)


def _existing_or_new_contact(
    newsletter: Newsletter, address: str, *, name: str, language: str
) -> tuple[Subscriber, bool]:
    """The newsletter's one contact for an address, even when two requests create it at
    the same moment; and whether this call created it."""
    contacts = Subscriber.objects.filter(newsletter=newsletter)
    existing = contacts.with_address(address).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            created = Subscriber.objects.create(
                newsletter=newsletter, email=address, name=name, language=language
            )
            return created, True
    except IntegrityError:
        return contacts.with_address(address).get(), False


def _announce(
    signal, subscriber: Subscriber, newsletter: Newsletter, lists: list[MailingList], **extra
) -> None:
    """Tell other apps (webhooks) inside this transaction, so their rows share its fate."""
    if lists:
        signal.send(
            sender=Subscriber, subscriber=subscriber, newsletter=newsletter, lists=lists, **extra
        )


# Subscribe and confirm


@dataclass
class SubscribeOutcome:
    """What happened, for the caller's logs and tests; pages never show it to the visitor.

    ``subscriber`` is None when the address is suppressed for this newsletter (here or
    everywhere) in a way this request cannot lift: nothing was stored.
    """

    subscriber: Subscriber | None
    pending: list[MailingList] = field(default_factory=list)
    confirmed: list[MailingList] = field(default_factory=list)
    confirmation_queued: bool = False


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
    attributes: dict | None = None,
    tracking: str = "",
) -> SubscribeOutcome:
    """Start (or restart) a subscription to ``lists``; double opt-in unless a list says single.

    With an ``attestation`` (a maintainer or an API client stating how the person
    consented elsewhere), lists are confirmed at once, but
    never for a suppressed address or a list the person left: only they can undo that.
    Repeating it duplicates nothing. A suppressed address that needs an admin is
    left alone, silently: callers must answer the same whatever happened. ``actor``
    (who added the person, when it was not themselves) goes to the ledger, and so
    does ``referrer``, a contact of the newsletter whose referral link brought the
    person (by id only: the ledger never holds the referrer's address).

    ``name`` names a new contact. An existing contact's empty name is filled at once
    when a member of the newsletter asks (dashboard, API); from a public form it waits
    for the address to confirm, travelling in the confirmation link meanwhile; so
    does ``tracking``, the tracking choice made on the form (a new contact gets it at
    once; an existing one on confirmation, and only if it tracks them less).
    ``attributes`` (the public form's custom fields) are checked by type first and
    kept for a contact this call creates only: a stranger's form never changes what
    an existing contact holds.
    """
    address = normalize_email(email)
    typed = FieldSchema.of(newsletter).clean(attributes) if attributes else {}
    if any(mailing_list.newsletter_id != newsletter.pk for mailing_list in lists):
        raise ValidationError("A list belongs to another newsletter.", code="foreign_list")
    archived = [mailing_list.slug for mailing_list in lists if mailing_list.archived_at]
    if archived:
        raise ValidationError(
            {
                "lists": ValidationError(
                    gettext("Archived lists take no new subscriptions: %(slugs)s.")
                    % {"slugs": ", ".join(archived)},
                    code="archived_list",
                )
            }
        )
    reasons = suppressions.reasons(address, newsletter)
    if reasons and (attestation or reasons - suppressions.LIFTABLE_BY_CONSENT):
        logger.info("subscribe ignored: suppressed", extra={"newsletter": newsletter.pk})
        return SubscribeOutcome(subscriber=None)

    contact, created = _existing_or_new_contact(newsletter, address, name=name, language=language)
    contact = lock_contact(contact.pk)
    if contact.status in (SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED):
        return SubscribeOutcome(subscriber=None)
    if attestation and contact.status == SubscriberStatus.UNSUBSCRIBED:
        return SubscribeOutcome(subscriber=None)  # they left every list: only they can return
    if created and tracking and tracking != contact.tracking_choice:
        contact.set_tracking_choice(tracking)
        contact.save(update_fields=["tracking_opt_out", "tracking_off", "updated_at"])
    if name and not contact.name and not created and source not in PUBLIC_SOURCES:
        contact.name = name
        contact.save(update_fields=["name", "updated_at"])
    if created and any(value is not None for value in typed.values()):
        contact.attributes = {key: value for key, value in typed.items() if value is not None}
        contact.save(update_fields=["attributes", "updated_at"])

    outcome = SubscribeOutcome(subscriber=contact)
    started = []
    now = timezone.now()
    if referrer is not None and referrer.pk == contact.pk:
        referrer = None  # one's own link brings nobody
    for mailing_list in lists:
        subscription, created_now = Subscription.objects.get_or_create(
            subscriber=contact, mailing_list=mailing_list, defaults={"newsletter": newsletter}
        )
        if subscription.status == SubscriptionStatus.CONFIRMED:
            continue
        if attestation and subscription.status == SubscriptionStatus.UNSUBSCRIBED:
            continue
        at_once = mailing_list.opt_in == OptIn.SINGLE or bool(attestation)
        if subscription.status == SubscriptionStatus.PENDING and not created_now and not at_once:
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
            subscriber=contact,
            action=ConsentAction.SUBSCRIBED,
            source=source,
            mailing_list=mailing_list,
            wording=wording,
            details=details,
            evidence=evidence,
        )
        (outcome.confirmed if at_once else outcome.pending).append(mailing_list)
        started.append(mailing_list)

    if outcome.confirmed:
        _reactivate(contact)
    if outcome.pending:
        outcome.confirmation_queued = _queue_confirmation(
            contact, name=name, tracking="" if created else tracking
        )
    _announce(signals.subscribed, contact, newsletter, started, referrer=referrer)
    _announce(signals.confirmed, contact, newsletter, outcome.confirmed)
    return outcome


def referrer_for(*, newsletter: Newsletter, code: str) -> Subscriber | None:
    """The contact of ``newsletter`` whose referral code this is, or None.

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
            newsletter=newsletter,
            subscriptions__isnull=False,
        )
        .exclude(status=SubscriberStatus.ERASED)
        .first()
    )


def _reactivate(contact: Subscriber) -> None:
    if contact.status == SubscriberStatus.UNSUBSCRIBED:
        contact.status = SubscriberStatus.ACTIVE
        contact.save(update_fields=["status", "updated_at"])
    suppressions.lift_on_consent(contact.email, contact.newsletter)


def _queue_confirmation(contact: Subscriber, *, name: str = "", tracking: str = "") -> bool:
    """At most a few confirmation mails per address and hour: no subscription bombing.

    ``name`` is the one the person gave in this request: the mail greets them with it.
    ``tracking``, their choice on the form, travels in the link like the name.
    """
    if not ratelimit.hit(
        "confirmation-mail",
        contact.email,
        limit=CONFIRMATION_MAILS_PER_ADDRESS_PER_HOUR,
        window_seconds=3600,
    ):
        logger.warning("confirmation mail rate-limited", extra={"subscriber": contact.pk})
        return False
    tasks.send_confirmation.delay_on_commit(contact.pk, contact.newsletter_id, name, tracking)
    return True


@dataclass
class ConfirmOutcome:
    newsletter: Newsletter
    subscriber: Subscriber
    confirmed: list[MailingList]


@transaction.atomic
def confirm(*, claim: Claim, evidence: Evidence | None = None) -> ConfirmOutcome:
    """Confirm every pending subscription of the claim's contact; idempotent.

    The address is now proven: the name the person gave in the form (carried by the
    link) fills the contact's name if it has none, and the tracking choice they made
    there applies if it tracks them less than the contact's.
    """
    contact = _locked_claim(claim)
    pending = list(
        Subscription.objects.filter(
            subscriber=contact, status=SubscriptionStatus.PENDING
        ).select_related("mailing_list")
    )
    now = timezone.now()
    for subscription in pending:
        subscription.status = SubscriptionStatus.CONFIRMED
        subscription.confirmed_at = now
        subscription.save(update_fields=["status", "confirmed_at"])
        ledger.append(
            subscriber=contact,
            action=ConsentAction.CONFIRMED,
            source=ConsentSource.CONFIRMATION_LINK,
            mailing_list=subscription.mailing_list,
            evidence=evidence,
        )
    if claim.name and not contact.name and contact.email:
        contact.name = claim.name
        contact.save(update_fields=["name", "updated_at"])
    wanted = claim.tracking
    if wanted in TrackingChoice.values and stricter_tracking(wanted, contact.tracking_choice):
        profile_apply(
            contact,
            {"tracking": wanted},
            source=ConsentSource.CONFIRMATION_LINK,
            evidence=evidence,
        )
    confirmed = [subscription.mailing_list for subscription in pending]
    if pending:
        _reactivate(contact)
    _announce(signals.confirmed, contact, contact.newsletter, confirmed)
    return ConfirmOutcome(contact.newsletter, contact, confirmed)


def resend_confirmation(*, claim: Claim) -> bool:
    """Queue a fresh confirmation link when the person still has something to confirm."""
    with transaction.atomic():
        contact = _locked_claim(claim)
        has_pending = Subscription.objects.filter(
            subscriber=contact, status=SubscriptionStatus.PENDING
        ).exists()
        if not has_pending or contact.email is None:
            return False
        return _queue_confirmation(contact, name=claim.name, tracking=claim.tracking)


# Preferences and unsubscribe


def lists_for_preferences(subscriber: Subscriber, newsletter: Newsletter) -> QuerySet[MailingList]:
    """Public lists, plus private ones the person already belongs to; never archived ones."""
    return (
        newsletter.lists.active()
        .filter(
            Q(public=True) | Q(subscriptions__subscriber=subscriber, subscriptions__status__in=LIVE)
        )
        .distinct()
    )


@dataclass(frozen=True)
class Preferences:
    """One newsletter's preference form, applied to the claim's contact.

    ``lists`` is the complete set of offered lists wanted; ``frequencies`` the
    frequency wanted per list id (lists left out keep theirs). The pause is always
    given: no date and not ``paused_indefinitely`` means "not paused". A profile
    field left None (name, language, tracking, mail format) is not changed.
    """

    lists: frozenset[int]
    name: str | None = None
    language: str | None = None
    tracking: str | None = None
    mail_format: str | None = None
    paused_until: datetime | None = None
    paused_indefinitely: bool = False
    frequencies: Mapping[int, str] = field(default_factory=dict)


@transaction.atomic
def update_preferences(
    *, claim: Claim, preferences: Preferences, evidence: Evidence | None = None
) -> list[str]:
    """Apply the preference center's form to the claim's contact (this newsletter only);
    return what changed (for the confirmation)."""
    return preferences_apply(_locked_claim(claim), preferences, evidence=evidence)


def preferences_apply(
    contact: Subscriber,
    preferences: Preferences,
    *,
    evidence: Evidence | None = None,
    source: str = ConsentSource.PREFERENCE_CENTER,
) -> list[str]:
    """Apply one newsletter's preferences to its locked contact, each change in its
    ledger; return what changed: ``+slug``/``-slug`` for lists joined and left,
    ``frequency:slug`` for a new frequency, and the profile fields changed."""
    newsletter = contact.newsletter
    changed = []
    offered = {
        mailing_list.pk: mailing_list for mailing_list in lists_for_preferences(contact, newsletter)
    }
    current = {
        subscription.mailing_list_id: subscription
        for subscription in Subscription.objects.filter(
            subscriber=contact, mailing_list__in=offered.values()
        )
    }
    now = timezone.now()
    added, removed, frequencies = [], [], {}
    for list_id, mailing_list in offered.items():
        subscription = current.get(list_id)
        live = subscription is not None and subscription.status in LIVE
        frequency = preferences.frequencies.get(list_id)
        if list_id in preferences.lists and not live:
            Subscription.objects.update_or_create(
                subscriber=contact,
                mailing_list=mailing_list,
                defaults={
                    "newsletter": newsletter,
                    "status": SubscriptionStatus.CONFIRMED,
                    "confirmed_at": now,
                    "unsubscribed_at": None,
                    "frequency": frequency or Frequency.EVERY_ISSUE,
                },
            )
            ledger.append(
                subscriber=contact,
                action=ConsentAction.SUBSCRIBED,
                source=source,
                mailing_list=mailing_list,
                wording=newsletter.consent_text,
                details={"opt_in": "preference_center", "frequency": frequency or "every_issue"},
                evidence=evidence,
            )
            changed.append(f"+{mailing_list.slug}")
            added.append(mailing_list)
        elif list_id not in preferences.lists and live:
            subscription.subscriber = contact
            _end_subscription(subscription, source, evidence, now)
            changed.append(f"-{mailing_list.slug}")
            removed.append(mailing_list)
        elif live and frequency and frequency != subscription.frequency:
            subscription.frequency = frequency
            subscription.save(update_fields=["frequency"])
            frequencies[mailing_list.slug] = frequency
            changed.append(f"frequency:{mailing_list.slug}")
    _announce(signals.subscribed, contact, newsletter, added)
    _announce(signals.confirmed, contact, newsletter, added)
    _announce(signals.unsubscribed, contact, newsletter, removed)
    if removed and not added:
        _settle_after_leaving(contact)

    optional = {
        "name": preferences.name,
        "language": preferences.language,
        "tracking": preferences.tracking,
        "mail_format": preferences.mail_format,
    }
    profile = {key: value for key, value in optional.items() if value is not None}
    profile["paused_until"] = None if preferences.paused_indefinitely else preferences.paused_until
    profile["paused_indefinitely"] = preferences.paused_indefinitely
    changed.extend(
        profile_apply(contact, profile, source=source, evidence=evidence, frequencies=frequencies)
    )
    if added:
        _reactivate(contact)
    return changed


def profile_apply(
    contact: Subscriber,
    profile: dict,
    *,
    source: str,
    evidence: Evidence | None,
    frequencies: dict[str, str] | None = None,
    actor: str = "",
    fields_changed: list[str] | None = None,
) -> list[str]:
    """Set a locked contact's profile fields (``tracking`` sets both tracking flags) and
    record what changed in its ledger, with the choices it now has (never the name,
    nor custom field values: ``fields_changed`` names the ``attributes.<key>`` that
    changed, in place of ``attributes``). Return the model fields changed."""
    wanted = dict(profile)
    if "tracking" in wanted:
        choice = wanted.pop("tracking")
        wanted["tracking_opt_out"] = choice != TrackingChoice.NEWSLETTER
        wanted["tracking_off"] = choice == TrackingChoice.NONE
    fields = [key for key, value in wanted.items() if getattr(contact, key) != value]
    if not fields and not frequencies:
        return []
    for key in fields:
        setattr(contact, key, wanted[key])
    if fields:
        contact.save(update_fields=[*fields, "updated_at"])
    details = {
        "changed": fields
        if fields_changed is None
        else [*(each for each in fields if each != "attributes"), *fields_changed],
        "tracking": contact.tracking_choice,
        "tracking_opt_out": contact.tracking_opt_out,
        "mail_format": contact.mail_format,
        "paused_until": contact.paused_until.isoformat() if contact.paused_until else None,
        "paused_indefinitely": contact.paused_indefinitely,
        "time_zone": contact.time_zone,
    }
    if frequencies:
        details["frequency"] = frequencies
    if actor:
        details["actor"] = actor
    ledger.append(
        subscriber=contact,
        action=ConsentAction.PREFERENCES_CHANGED,
        source=source,
        details=details,
        evidence=evidence,
    )
    return fields


def _end_subscription(
    subscription: Subscription,
    source: str,
    evidence: Evidence | None,
    now: datetime,
    actor: str = "",
    campaign_id: int | None = None,
) -> None:
    subscription.status = SubscriptionStatus.UNSUBSCRIBED
    subscription.unsubscribed_at = now
    subscription.save(update_fields=["status", "unsubscribed_at"])
    details: dict = {"actor": actor} if actor else {}
    if campaign_id is not None:
        details["campaign"] = campaign_id
    ledger.append(
        subscriber=subscription.subscriber,
        action=ConsentAction.UNSUBSCRIBED,
        source=source,
        mailing_list=subscription.mailing_list,
        details=details or None,
        evidence=evidence,
    )


def _settle_after_leaving(contact: Subscriber) -> None:
    """A contact left with no list at all is unsubscribed from everything: that is
    what the dashboard says and filters on, and what an attestation or an import
    cannot undo (only the person, subscribing again, makes them active)."""
    if contact.status != SubscriberStatus.ACTIVE:
        return
    if Subscription.objects.filter(subscriber=contact, status__in=LIVE).exists():
        return
    contact.status = SubscriberStatus.UNSUBSCRIBED
    contact.save(update_fields=["status", "updated_at"])


def _received(contact: Subscriber, campaign_id: int | None) -> int | None:
    """``campaign_id`` if the contact was sent that campaign, else None: the campaign an
    unsubscribe link names is not signed, so it only counts for mail the person got."""
    if campaign_id is None or not contact.deliveries.filter(campaign_id=campaign_id).exists():
        return None
    return campaign_id


@transaction.atomic
def unsubscribe(
    *,
    claim: Claim,
    source: str,
    mailing_list: MailingList | None = None,
    evidence: Evidence | None = None,
    actor: str = "",
    campaign_id: int | None = None,
) -> int:
    """End the claim's contact's subscriptions (or one list's); idempotent.

    ``actor`` names the maintainer who did it for the person (the dashboard).
    ``campaign_id`` is the campaign whose mail the person left through (its link,
    one-click header or unsubscribe address): it goes to the ledger and to the
    campaign's unsubscribe count (``signals.unsubscribed``), once per person.
    Left with no list, the contact is unsubscribed from everything.
    """
    contact = _locked_claim(claim)
    campaign_id = _received(contact, campaign_id)
    live = Subscription.objects.filter(subscriber=contact, status__in=LIVE).select_related(
        "mailing_list"
    )
    if mailing_list is not None:
        live = live.filter(mailing_list=mailing_list)
    now = timezone.now()
    ended = []
    for subscription in live:
        subscription.subscriber = contact
        _end_subscription(subscription, source, evidence, now, actor, campaign_id)
        ended.append(subscription.mailing_list)
    _announce(signals.unsubscribed, contact, contact.newsletter, ended, campaign_id=campaign_id)
    if ended:
        _settle_after_leaving(contact)
    return len(ended)


@transaction.atomic
def leave_newsletter(*, claim: Claim, source: str, evidence: Evidence | None = None) -> int:
    """Leave every list of the claim's newsletter, and stop its mail for good: the
    contact shows as unsubscribed, and the address is suppressed in this newsletter
    (an import or an attestation cannot bring it back; only the person can)."""
    contact = _locked_claim(claim)
    return leave_everything(
        contact, source, evidence, SubscriberStatus.UNSUBSCRIBED, everywhere=False
    )


def leave_everything(
    contact: Subscriber,
    source: str,
    evidence: Evidence | None,
    status: str,
    *,
    everywhere: bool,
    campaign_id: int | None = None,
) -> int:
    """End every live subscription of a locked contact (each in the ledger), mark it
    ``status`` and suppress its address in its newsletter, or ``everywhere``.

    ``campaign_id``: the campaign complained about, named in the ledger only (a
    complaint is counted as one, not as an unsubscribe).
    """
    now = timezone.now()
    ended = []
    for subscription in Subscription.objects.filter(
        subscriber=contact, status__in=LIVE
    ).select_related("mailing_list"):
        subscription.subscriber = contact
        _end_subscription(subscription, source, evidence, now, campaign_id=campaign_id)
        ended.append(subscription.mailing_list)
    _announce(signals.unsubscribed, contact, contact.newsletter, ended)
    if contact.email:
        contact.status = status
        contact.save(update_fields=["status", "updated_at"])
        reason = (
            SuppressionReason.COMPLAINT
            if status == SubscriberStatus.COMPLAINED
            else SuppressionReason.UNSUBSCRIBED
        )
        suppressions.suppress_contact(contact=contact, reason=reason, everywhere=everywhere)
    return len(ended)


# What the receiving side reports about a contact's message (delivery/feedback.py)
#
# Always about one delivery's own recipient, named by id: an event that names only an
# address acts on nothing (delivery/feedback.py), so a forged or misrouted one cannot
# reach every contact who shares that address.


@transaction.atomic
def record_bounce(
    *,
    contact_id: int,
    everywhere: bool,
    reason: str = SuppressionReason.HARD_BOUNCE,
    note: str = "",
) -> Subscriber:
    """The address does not exist, or keeps refusing mail: it is not mailed again.

    ``everywhere`` only for a hard bounce of a message that was actually sent: then
    every newsletter stops; otherwise only the contact's own. Consent is untouched
    (the person withdrew nothing), so the ledger is not written; the contact shows
    as bounced, and only an admin can lift the suppression.
    """
    contact = lock_contact(contact_id)
    suppressions.suppress_contact(contact=contact, reason=reason, everywhere=everywhere, note=note)
    if contact.status in (SubscriberStatus.ACTIVE, SubscriberStatus.UNSUBSCRIBED):
        contact.status = SubscriberStatus.BOUNCED
        contact.save(update_fields=["status", "updated_at"])
    return contact


@transaction.atomic
def record_complaint(
    *, contact_id: int, everywhere: bool, note: str = "", campaign_id: int | None = None
) -> Subscriber:
    """A spam complaint withdraws consent (RFC 6449's advice to senders).

    The contact leaves every list of its newsletter, each in the ledger as a
    complaint reported by the sending service. The address is suppressed as a
    complaint: ``everywhere`` when the message complained about was actually sent,
    else in the contact's newsletter only. Other newsletters' contacts keep their
    subscriptions (it is not theirs to change), but get no mail while an
    instance-wide suppression stands. ``campaign_id``: the campaign complained about.
    """
    contact = lock_contact(contact_id)
    if contact.status != SubscriberStatus.ERASED:
        suppressions.suppress_contact(
            contact=contact, reason=SuppressionReason.COMPLAINT, everywhere=everywhere, note=note
        )
        leave_everything(
            contact,
            ConsentSource.ESP_COMPLAINT,
            None,
            SubscriberStatus.COMPLAINED,
            everywhere=everywhere,
            campaign_id=_received(contact, campaign_id),
        )
    return contact


@transaction.atomic
def record_refusal(*, contact_id: int, reason: str, note: str = "") -> Subscriber:
    """The sending service refused a message for this address (a known bouncer, an
    earlier complaint): nothing was sent, so only the contact's newsletter stops."""
    contact = lock_contact(contact_id)
    suppressions.suppress_contact(contact=contact, reason=reason, everywhere=False, note=note)
    return contact


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
    """Change a contact's name, attributes and lists at once; it must be ``newsletter``'s.

    ``attributes`` is merged as a JSON merge patch (RFC 7396, top level): a key set
    to None is removed; defined fields are checked and normalised first
    (``fields.FieldSchema``), and a bad value changes nothing. ``lists`` is the
    complete set wanted in this newsletter: new ones go through ``subscribe`` (double
    opt-in unless attested), missing ones through ``unsubscribe``, so each change is in
    the consent ledger. Subscriptions to archived lists are left as they are, whether
    named or not.
    """
    if subscriber.newsletter_id != newsletter.pk:
        raise Subscriber.DoesNotExist("the contact belongs to another newsletter")
    if attributes is not None:
        attributes = FieldSchema.of(newsletter).clean(attributes)
    contact = lock_contact(subscriber.pk)
    fields = []
    if name is not None and name != contact.name:
        contact.name = name
        fields.append("name")
    if attributes is not None:
        merged = {**contact.attributes, **attributes}
        merged = {key: value for key, value in merged.items() if value is not None}
        if merged != contact.attributes:
            contact.attributes = merged
            fields.append("attributes")
    if fields:
        contact.save(update_fields=[*fields, "updated_at"])
    if lists is not None:
        wanted = {mailing_list.pk for mailing_list in lists}
        live = set(
            Subscription.objects.filter(subscriber=contact, status__in=LIVE).values_list(
                "mailing_list_id", flat=True
            )
        )
        # Joins first: a switch from one list to another never passes through "no
        # list at all", which would make the contact unsubscribed from everything.
        added = [mailing_list for mailing_list in lists if mailing_list.pk not in live]
        if added:
            subscribe(
                newsletter=newsletter,
                email=contact.email,
                lists=added,
                source=ConsentSource.API,
                wording=newsletter.consent_text,
                attestation=attestation,
                actor=actor,
            )
        claim = Claim(contact.pk, newsletter.pk)
        for mailing_list in newsletter.lists.active().filter(pk__in=live - wanted):
            unsubscribe(claim=claim, source=ConsentSource.API, mailing_list=mailing_list)
    contact.refresh_from_db()
    return contact


@dataclass(frozen=True)
class ReaderChoices:
    """A change of a reader's choices by the newsletter's own integration (API): only the
    fields given (not None) change. ``frequencies`` maps list slugs to frequencies."""

    tracking: str | None = None
    mail_format: str | None = None
    paused_until: datetime | None = None
    paused_indefinitely: bool | None = None
    unpause: bool = False  # ``paused_until: null`` sent explicitly
    frequencies: Mapping[str, str] = field(default_factory=dict)
    time_zone: str | None = None  # an IANA name, or "" for the newsletter's


@transaction.atomic
def reader_choices_update(
    *, newsletter: Newsletter, subscriber: Subscriber, choices: ReaderChoices, actor: str = ""
) -> Subscriber:
    """Set a contact's reader choices for the newsletter's own integrations (a project's
    account page, say), each change in the ledger with the API as its source.

    The tracking choice only ever tightens here: a newsletter never counts a reader
    more than the reader chose; only the reader loosens it, in their preference
    center. Each error names its field, and nothing is saved unless all is valid.
    """
    if subscriber.newsletter_id != newsletter.pk:
        raise Subscriber.DoesNotExist("the contact belongs to another newsletter")
    contact = lock_contact(subscriber.pk)
    errors = {}
    if choices.tracking is not None and stricter_tracking(
        contact.tracking_choice, choices.tracking
    ):
        errors["tracking"] = gettext(
            "Only the reader can allow more tracking than they chose, in their preference center."
        )
    if choices.paused_until is not None:
        if choices.paused_indefinitely:
            errors["paused_until"] = gettext(
                "Give a date or pause until the reader comes back, not both."
            )
        elif choices.paused_until <= timezone.now():
            errors["paused_until"] = gettext("Choose a date in the future.")
    live = {
        subscription.mailing_list.slug: subscription
        for subscription in contact.subscriptions.filter(status__in=LIVE).select_related(
            "mailing_list"
        )
    }
    if choices.time_zone and choices.time_zone not in known_timezones():
        errors["time_zone"] = gettext("%(value)s is not a known time zone.") % {
            "value": choices.time_zone
        }
    unknown = sorted(set(choices.frequencies) - set(live))
    if unknown:
        errors["frequencies"] = gettext(
            "The reader is not subscribed to these lists: %(slugs)s."
        ) % {"slugs": ", ".join(unknown)}
    if errors:
        raise ValidationError({key: ValidationError(message) for key, message in errors.items()})

    profile = {}
    if choices.tracking is not None:
        profile["tracking"] = choices.tracking
    if choices.mail_format is not None:
        profile["mail_format"] = choices.mail_format
    if choices.paused_until is not None:
        profile.update(paused_until=choices.paused_until, paused_indefinitely=False)
    elif choices.paused_indefinitely is not None:
        profile["paused_indefinitely"] = choices.paused_indefinitely
        if choices.paused_indefinitely:
            profile["paused_until"] = None
    if choices.unpause:
        profile["paused_until"] = None
    if choices.time_zone is not None:
        profile["time_zone"] = choices.time_zone
    changed_frequencies = {}
    for slug, frequency in choices.frequencies.items():
        subscription = live[slug]
        if subscription.frequency != frequency:
            subscription.frequency = frequency
            subscription.save(update_fields=["frequency"])
            changed_frequencies[slug] = frequency
    profile_apply(
        contact,
        profile,
        source=ConsentSource.API,
        evidence=None,
        frequencies=changed_frequencies,
        actor=actor,
    )
    return contact


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
    """A new list; a slug already used in the newsletter is refused, naming the field
    (also when another request takes it at the same moment)."""
    _check_slug_free(newsletter, slug)
    try:
        with transaction.atomic():
            return MailingList.objects.create(
                newsletter=newsletter,
                name=name,
                slug=slug,
                description=description,
                public=public,
                opt_in=opt_in,
            )
    except IntegrityError:
        raise ValidationError({"slug": ValidationError(SLUG_TAKEN)}) from None


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
        raise ValidationError({"slug": ValidationError(SLUG_TAKEN)})


# Archiving and deleting lists: consent records are never lost


@transaction.atomic
def list_archive(*, mailing_list: MailingList) -> MailingList:
    """Stop offering and sending to a list, keeping everything it holds.

    Its subscriptions stay as they are and its consent records stay in the ledger:
    unarchiving brings the list back with the same people. Scheduled campaigns that
    only had this list fail to start, saying why (delivery/lifecycle.py).
    """
    mailing_list = MailingList.objects.select_for_update().get(pk=mailing_list.pk)
    if mailing_list.archived_at is None:
        mailing_list.archived_at = timezone.now()
        mailing_list.save(update_fields=["archived_at"])
    return mailing_list


@transaction.atomic
def list_unarchive(*, mailing_list: MailingList) -> MailingList:
    mailing_list = MailingList.objects.select_for_update().get(pk=mailing_list.pk)
    if mailing_list.archived_at is not None:
        mailing_list.archived_at = None
        mailing_list.save(update_fields=["archived_at"])
    return mailing_list


LIST_USES_SHOWN = 3


def list_deletion_blockers(mailing_list: MailingList) -> list[str]:
    """Why deleting the list would lose something, or nothing when it can go.

    Consent records must outlive the list (the ledger proves what people agreed
    to; ``ConsentEvent.mailing_list`` protects it in the database too), and so
    must subscriptions, imports and the campaigns that name it as their audience.
    """
    reasons = []
    if ConsentEvent.objects.filter(mailing_list=mailing_list).exists():
        reasons.append(gettext("the consent ledger records people joining or leaving it"))
    if mailing_list.subscriptions.exists():
        reasons.append(gettext("people are subscribed to it"))
    if mailing_list.imports.exists():
        reasons.append(gettext("people were imported into it"))
    campaigns = list(mailing_list.campaigns.values_list("name", flat=True)[: LIST_USES_SHOWN + 1])
    if campaigns:
        names = ", ".join(f"“{name}”" for name in campaigns[:LIST_USES_SHOWN])
        if len(campaigns) > LIST_USES_SHOWN:
            names += ", …"
        reasons.append(gettext("campaigns are addressed to it: %(names)s") % {"names": names})
    return reasons


@transaction.atomic
def list_delete(*, mailing_list: MailingList) -> None:
    """Delete a list that never held anyone; otherwise refuse, and say to archive it."""
    mailing_list = MailingList.objects.select_for_update().get(pk=mailing_list.pk)
    reasons = list_deletion_blockers(mailing_list)
    if reasons:
        raise ValidationError(
            gettext(
                "It cannot be deleted without losing records (%(reasons)s); archive it instead."
            )
            % {"reasons": "; ".join(reasons)},
            code="in_use",
        )
    mailing_list.delete()
