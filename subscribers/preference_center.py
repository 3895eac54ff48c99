"""The person's preference center: every newsletter of this instance they get, on one page.

Its link names one contact, but the person it was mailed to acts there for
themself, so it shows and changes every contact at the same address (contacts are
per newsletter: ``selectors.person_at``). Each change lands on the contact it is
about, in that contact's own ledger; nothing in one newsletter's data says that it
was made from another newsletter's link, so no newsletter learns of another's.

What the link allows stays what a forwarded link may allow: preferences and
leaving. Export and erasure need the short-lived data link (``personal_data``).
"""

from collections.abc import Mapping

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext

from . import services
from .fields import FieldSchema
from .ledger import Evidence
from .models import ConsentSource, FieldDefinition, Subscriber, SubscriberStatus
from .selectors import person_at
from .tokens import Claim


def person_contacts(contact: Subscriber) -> list[Subscriber]:
    """The contacts the person's preference center shows: the link's own first, then
    every other newsletter's contact at the address that holds a subscription
    (current or past), by newsletter name; erased ones are gone."""
    if not contact.email:
        return [contact]
    others = (
        person_at(contact.email)
        .exclude(pk=contact.pk)
        .exclude(status=SubscriberStatus.ERASED)
        .filter(subscriptions__isnull=False)
        .distinct()
        .prefetch_related("subscriptions")
    )
    return [contact, *sorted(others, key=lambda each: each.newsletter.name.casefold())]


def contact_in(claim: Claim, newsletter_id: int) -> Subscriber | None:
    """The person's contact in that newsletter, among those their page shows."""
    contact = services.contact_for_claim(claim)
    if contact is None:
        return None
    return next(
        (each for each in person_contacts(contact) if each.newsletter_id == newsletter_id), None
    )


@transaction.atomic
def newsletter_choices_save(
    *, claim: Claim, newsletter_id: int, preferences: services.Preferences, evidence: Evidence
) -> list[str]:
    """Apply one newsletter's lists, frequencies and pause from the person's page."""
    contact = contact_in(claim, newsletter_id)
    if contact is None:
        raise Subscriber.DoesNotExist(f"no contact of {claim} in newsletter {newsletter_id}")
    return services.update_preferences(
        claim=Claim(contact.pk, contact.newsletter_id), preferences=preferences, evidence=evidence
    )


def reader_fields(contact: Subscriber) -> list[FieldDefinition]:
    """The contact's newsletter's fields it lets the person see, in the newsletter's order."""
    return list(contact.newsletter.field_definitions.filter(shown_to_reader=True))


@transaction.atomic
def reader_fields_save(
    *, claim: Claim, newsletter_id: int, values: Mapping[str, object], evidence: Evidence
) -> list[str]:
    """Set the fields of one newsletter that it lets the person edit, from their page.

    Only fields marked editable there are written (any other key is refused, naming
    it: a field shown read-only, or one not shown at all, is the newsletter's to set).
    Each value goes through ``FieldSchema`` like every other write, an empty one
    removes the value, and one bad value changes nothing. The change lands in that
    contact's ledger as the person's own "preferences changed" (which keys, not
    their values, like the name). Return the keys whose value changed."""
    contact = contact_in(claim, newsletter_id)
    if contact is None:
        raise Subscriber.DoesNotExist(f"no contact of {claim} in newsletter {newsletter_id}")
    editable = {field.key: field for field in reader_fields(contact) if field.editable_by_reader}
    refused = sorted(set(values) - set(editable))
    if refused:
        raise ValidationError(
            {f"attributes.{key}": gettext("You cannot change this field here.") for key in refused}
        )
    cleaned = FieldSchema(editable).clean(values)
    locked = services.lock_contact(contact.pk)
    merged = {**locked.attributes, **cleaned}
    merged = {key: value for key, value in merged.items() if value is not None}
    changed = sorted(key for key in editable if locked.attributes.get(key) != merged.get(key))
    if changed:
        services.profile_apply(
            locked,
            {"attributes": merged},
            source=ConsentSource.PREFERENCE_CENTER,
            evidence=evidence,
            fields_changed=[f"attributes.{key}" for key in changed],
        )
    return changed


@transaction.atomic
def profile_save(*, claim: Claim, changes: dict, evidence: Evidence) -> int:
    """Apply the person's changes (name, language, tracking, format) to every contact their
    page shows, each in its own ledger; return how many contacts changed."""
    contact = services.contact_for_claim(claim)
    if contact is None or not changes:
        return 0
    changed = 0
    for each in sorted(person_contacts(contact), key=lambda each: each.pk):  # lock order
        locked = services.lock_contact(each.pk)
        changed += bool(
            services.profile_apply(
                locked, changes, source=ConsentSource.PREFERENCE_CENTER, evidence=evidence
            )
        )
    return changed


@transaction.atomic
def stop_everything(*, claim: Claim, evidence: Evidence) -> int:
    """One click: leave every newsletter the page shows, each as its own "leave this
    newsletter" (every list, and a suppression in that newsletter that only the
    person can lift by subscribing again). Return how many subscriptions ended."""
    contact = services.contact_for_claim(claim)
    if contact is None:
        return 0
    ended = 0
    for each in sorted(person_contacts(contact), key=lambda each: each.pk):
        ended += services.leave_everything(
            services.lock_contact(each.pk),
            ConsentSource.PREFERENCE_CENTER,
            evidence,
            SubscriberStatus.UNSUBSCRIBED,
            everywhere=False,
        )
    return ended
