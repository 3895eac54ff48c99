"""Who must not be mailed, and by whom: a newsletter's own suppressions and the instance's.

A suppression with a newsletter stops that newsletter's mail; one without stops every
newsletter's. Nothing a member, token, import or webhook of one newsletter does may
stop another's mail, so the instance-wide scope is written only by:

- a hard bounce or a complaint about a message that was actually sent
  (``services.record_bounce`` / ``record_complaint`` with ``everywhere=True``);
- the person themself, through their data page (stop all mail, erase me);
- an instance admin (Django admin).

Every reader applies both scopes: sending (``delivery.audience``), subscribing and
importing.
"""

from django.db.models import Q, QuerySet

from newsletter.models import Newsletter

from .models import Subscriber, Suppression, SuppressionReason, address_digest
from .selectors import person_at

# Reasons the person's own confirmed request lifts; the others need an admin (or, for a
# newsletter's own suppression, that newsletter's editors: see ``lift``).
LIFTABLE_BY_CONSENT = frozenset({SuppressionReason.UNSUBSCRIBED})


def applying(email: str, newsletter: Newsletter) -> QuerySet[Suppression]:
    """The suppressions that stop ``newsletter``'s mail to this address: its own and the
    instance's. Never shown to the newsletter's members as such (docs/security.md)."""
    return Suppression.objects.filter(
        Q(newsletter__isnull=True) | Q(newsletter=newsletter), email_digest=address_digest(email)
    )


def reasons(email: str, newsletter: Newsletter) -> set[str]:
    return set(applying(email, newsletter).values_list("reason", flat=True))


def suppress(
    *, email: str, reason: str, newsletter: Newsletter | None, note: str = ""
) -> Suppression:
    """Add or harden a suppression in one scope: ``newsletter``, or None for every
    newsletter (only the callers listed in this module's docstring pass None).

    An unsubscribe never softens a stronger reason, and an erasure stays one (a late
    bounce for an erased address must not relabel it).
    """
    suppression, created = Suppression.objects.get_or_create(
        email_digest=address_digest(email),
        newsletter=newsletter,
        defaults={"reason": reason, "note": note},
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


def suppress_contact(
    *, contact: Subscriber, reason: str, everywhere: bool, note: str = ""
) -> Suppression | None:
    """Suppress a contact's address in its newsletter, or everywhere; None once erased."""
    if not contact.email:
        return None
    scope = None if everywhere else contact.newsletter
    return suppress(email=contact.email, reason=reason, newsletter=scope, note=note)


def lift_on_consent(email: str, newsletter: Newsletter) -> None:
    """The person confirmed a subscription to ``newsletter`` themself: their earlier
    "unsubscribed" no longer stops its mail.

    An instance-wide "unsubscribed" (they once stopped all mail) is narrowed rather
    than dropped: it becomes a suppression of each other newsletter they have a
    contact in, so coming back to one newsletter restarts no other.
    """
    digest = address_digest(email)
    Suppression.objects.filter(
        email_digest=digest, newsletter=newsletter, reason__in=LIFTABLE_BY_CONSENT
    ).delete()
    everywhere = Suppression.objects.filter(
        email_digest=digest, newsletter__isnull=True, reason__in=LIFTABLE_BY_CONSENT
    ).first()
    if everywhere is None:
        return
    others = person_at(email).exclude(newsletter=newsletter).values_list("newsletter_id", flat=True)
    for newsletter_id in others:
        Suppression.objects.get_or_create(
            email_digest=digest,
            newsletter_id=newsletter_id,
            defaults={"reason": everywhere.reason, "note": everywhere.note},
        )
    everywhere.delete()
