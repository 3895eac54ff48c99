"""Contacts per newsletter, step 2 of 3: one contact per (newsletter, address).

Until now one subscriber row stood for an address in every newsletter it joined.
Each row now belongs to one newsletter: the lowest id among the newsletters it has
subscriptions, consent events or deliveries in. For each of its other newsletters
a copy is made (address, name, language, attributes, status, tracking opt-out and
pause as they were; ``split_from`` names the shared row, so links mailed before
still find it), and that newsletter's subscriptions, consent events, deliveries,
tracking events and engagements move to the copy.

The consent ledger is one hash chain per subscriber, and each hash covers the
subscriber's id: moving events breaks the chain. So when a row's events are
divided, every resulting chain is re-linked (each event's hash recomputed over
its new subscriber and predecessor, its content untouched) and ends with a
``split`` event that records the shared chain's head hash, its length, whether it
verified, and the old hash of each re-linked event. Those records, gathered from
the contacts of one ``split_from``, rebuild the old chain exactly; the new chains
verify with ``ledger.verify_chain``. Events that named no newsletter stay with the
row that keeps its id.

A row in no newsletter at all (no subscription, event or delivery anywhere) is
nobody's contact: it is deleted, unless consent events point at it, in which case
it goes to the oldest newsletter. Suppressions stay as they were: instance-wide.

It reads every subscriber once with an index probe per source, and handles the
people in several newsletters one at a time (a few queries each). Going back is
possible only while no address has contacts in two newsletters.
"""

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator

from django.db import migrations
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Lower
from django.utils import timezone

CHUNK = 1000


# Frozen copies of subscribers.models.address_digest and subscribers.ledger.content_hash
# as they are when this migration is written: a later change there must not change it.


def _digest(value: str) -> str:
    if not value:
        return ""
    return hashlib.sha256(f"crier:{value}".encode()).hexdigest()


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _content_hash(event) -> str:
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


def _chain_verifies(events: list) -> bool:
    previous = ""
    for event in events:
        if event.previous_hash != previous or _content_hash(event) != event.hash:
            return False
        previous = event.hash
    return True


def _chunks(values: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def _by_newsletter(apps) -> tuple[dict[int, list[int]], list[int], list[int]]:
    """Subscribers in exactly one newsletter (by newsletter), in several, and in none."""
    Subscriber = apps.get_model("subscribers", "Subscriber")
    sources = [
        (apps.get_model("subscribers", "Subscription"), "mailing_list__newsletter_id"),
        (apps.get_model("subscribers", "ConsentEvent"), "newsletter_id"),
        (apps.get_model("delivery", "Delivery"), "campaign__newsletter_id"),
    ]
    ends = {}
    for index, (model, field) in enumerate(sources):
        own = model.objects.filter(subscriber=OuterRef("pk"), **{f"{field}__isnull": False})
        ends[f"low{index}"] = Subquery(own.order_by(field).values(field)[:1])
        ends[f"high{index}"] = Subquery(own.order_by(f"-{field}").values(field)[:1])
    single, several, none = defaultdict(list), [], []
    rows = Subscriber.objects.annotate(**ends).values_list("pk", *ends).order_by()
    for pk, *found in rows.iterator(chunk_size=5000):
        newsletters = {newsletter for newsletter in found if newsletter is not None}
        if not newsletters:
            none.append(pk)
        elif len(newsletters) == 1:
            single[newsletters.pop()].append(pk)
        else:
            several.append(pk)
    return single, several, none


def _place_orphans(apps, orphans: list[int]) -> None:
    Subscriber = apps.get_model("subscribers", "Subscriber")
    ConsentEvent = apps.get_model("subscribers", "ConsentEvent")
    with_ledger = set()
    for chunk in _chunks(orphans):
        with_ledger |= set(
            ConsentEvent.objects.filter(subscriber_id__in=chunk).values_list(
                "subscriber_id", flat=True
            )
        )
    for chunk in _chunks([pk for pk in orphans if pk not in with_ledger]):
        Subscriber.objects.filter(pk__in=chunk).delete()
    if not with_ledger:
        return
    oldest = (
        apps.get_model("newsletter", "Newsletter")
        .objects.order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )
    if oldest is None:
        raise RuntimeError(
            "Subscribers with consent events exist but no newsletter does: create one "
            "(manage.py create_newsletter) and run the migration again."
        )
    for chunk in _chunks(sorted(with_ledger)):
        Subscriber.objects.filter(pk__in=chunk).update(newsletter_id=oldest)


def _split_one(apps, pk: int, now) -> None:
    """Give each newsletter of this shared row a contact of its own, with its rows."""
    Subscriber = apps.get_model("subscribers", "Subscriber")
    Subscription = apps.get_model("subscribers", "Subscription")
    ConsentEvent = apps.get_model("subscribers", "ConsentEvent")
    Delivery = apps.get_model("delivery", "Delivery")
    Event = apps.get_model("tracking", "Event")
    Engagement = apps.get_model("tracking", "Engagement")

    shared = Subscriber.objects.get(pk=pk)
    events = list(ConsentEvent.objects.filter(subscriber_id=pk).order_by("id"))
    newsletters = sorted(
        set(
            Subscription.objects.filter(subscriber_id=pk).values_list(
                "mailing_list__newsletter_id", flat=True
            )
        )
        | {event.newsletter_id for event in events if event.newsletter_id is not None}
        | set(
            Delivery.objects.filter(subscriber_id=pk).values_list(
                "campaign__newsletter_id", flat=True
            )
        )
    )
    home, others = newsletters[0], newsletters[1:]
    Subscriber.objects.filter(pk=pk).update(newsletter_id=home)
    contacts = {home: pk}
    for newsletter in others:
        copy = Subscriber.objects.create(
            newsletter_id=newsletter,
            email=shared.email,
            email_digest=shared.email_digest,
            name=shared.name,
            language=shared.language,
            attributes=shared.attributes,
            status=shared.status,
            tracking_opt_out=shared.tracking_opt_out,
            paused_until=shared.paused_until,
            split_from=pk,
        )
        Subscriber.objects.filter(pk=copy.pk).update(
            created_at=shared.created_at, updated_at=shared.updated_at
        )
        contacts[newsletter] = copy.pk
        Subscription.objects.filter(
            subscriber_id=pk, mailing_list__newsletter_id=newsletter
        ).update(subscriber_id=copy.pk)
        for model in (Delivery, Event, Engagement):
            model.objects.filter(subscriber_id=pk, campaign__newsletter_id=newsletter).update(
                subscriber_id=copy.pk
            )
    if any(event.newsletter_id not in (None, home) for event in events):
        _relink(ConsentEvent, shared, events, contacts, home, now)


def _relink(ConsentEvent, shared, events: list, contacts: dict[int, int], home: int, now):
    """Re-link each newsletter's share of the ledger as its contact's own chain."""
    head = events[-1].hash
    verified = _chain_verifies(events)
    chains: dict[int, list] = defaultdict(list)
    for event in events:
        chains[event.newsletter_id or home].append(event)
    for newsletter, chain in chains.items():
        contact_id = contacts[newsletter]
        old_hashes = [[event.pk, event.hash] for event in chain]
        previous = ""
        for event in chain:
            event.subscriber_id = contact_id
            event.previous_hash = previous
            event.hash = _content_hash(event)
            previous = event.hash
        ConsentEvent.objects.bulk_update(chain, ["subscriber", "previous_hash", "hash"])
        anchor = ConsentEvent(
            subscriber_id=contact_id,
            newsletter_id=newsletter,
            mailing_list_id=None,
            action="split",
            source="migration",
            wording="",
            details={
                "from_subscriber": shared.pk,
                "previous_head": head,
                "previous_events": len(events),
                "previous_chain_verified": verified,
                "relinked": old_hashes,
            },
            email=shared.email or "",
            ip_address=None,
            user_agent="",
            email_digest=_digest((shared.email or "").strip().lower()),
            ip_digest="",
            user_agent_digest="",
            created_at=now,
            previous_hash=previous,
        )
        anchor.hash = _content_hash(anchor)
        anchor.save()


def _fill_subscription_newsletters(apps) -> None:
    Subscription = apps.get_model("subscribers", "Subscription")
    MailingList = apps.get_model("subscribers", "MailingList")
    Subscription.objects.update(
        newsletter_id=Subquery(
            MailingList.objects.filter(pk=OuterRef("mailing_list_id")).values("newsletter_id")[:1]
        )
    )


def split_contacts(apps, schema_editor) -> None:
    Subscriber = apps.get_model("subscribers", "Subscriber")
    single, several, none = _by_newsletter(apps)
    for newsletter, pks in single.items():
        for chunk in _chunks(pks):
            Subscriber.objects.filter(pk__in=chunk).update(newsletter_id=newsletter)
    now = timezone.now()
    for pk in several:
        _split_one(apps, pk, now)
    _place_orphans(apps, none)
    _fill_subscription_newsletters(apps)


def _shared_addresses(rows: Iterable) -> bool:
    return (
        rows.exclude(email=None)
        .values(address=Lower("email"))
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .exists()
    )


def merge_back(apps, schema_editor) -> None:
    """Back to one row per address: only possible while no address has two contacts."""
    Subscriber = apps.get_model("subscribers", "Subscriber")
    if Subscriber.objects.filter(split_from__isnull=False).exists() or _shared_addresses(
        Subscriber.objects.all()
    ):
        raise RuntimeError(
            "Some addresses have a contact in several newsletters: they cannot be merged "
            "back into one subscriber per address. Restore a backup taken before 0011."
        )


class Migration(migrations.Migration):
    dependencies = [
        ("subscribers", "0010_contacts_per_newsletter_fields"),
        ("delivery", "0006_campaign_index_covered"),
        ("tracking", "0001_initial"),
        ("campaigns", "0004_recipient_count"),
    ]

    operations = [migrations.RunPython(split_contacts, merge_back)]
