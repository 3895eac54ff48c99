"""Migrations 0010-0012: data made with the models as they were before contacts were per
newsletter, migrated, then read with today's models."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from delivery.models import Delivery
from subscribers import ledger, services
from subscribers.models import (
    ConsentEvent,
    Subscriber,
    Subscription,
    Suppression,
    address_digest,
    digest,
)
from subscribers.tokens import Claim
from tracking.models import Engagement, Event

BEFORE = ("subscribers", "0009_import_formats_and_chunks")


@pytest.fixture
def old_apps(transactional_db):
    """The app registry as it was at ``BEFORE``; the schema is migrated forward after."""
    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE])
    applied = MigrationExecutor(connection).loader
    yield applied.project_state(list(applied.applied_migrations)).apps
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


def migrate_to_today():
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


class OldWorld:
    """Rows written as the code before the split wrote them: one row per address."""

    def __init__(self, apps) -> None:
        self.apps = apps
        newsletters = apps.get_model("newsletter", "Newsletter")
        self.a = newsletters.objects.create(
            name="A", slug="a", from_email="a@example.org", postal_address="1 Street"
        )
        self.b = newsletters.objects.create(
            name="B", slug="b", from_email="b@example.org", postal_address="2 Street"
        )
        lists = apps.get_model("subscribers", "MailingList")
        self.a_news = lists.objects.create(newsletter=self.a, name="News", slug="news")
        self.b_news = lists.objects.create(newsletter=self.b, name="News", slug="news")
        self.now = timezone.now()

    def person(self, email, **fields):
        return self.apps.get_model("subscribers", "Subscriber").objects.create(
            email=email, email_digest=address_digest(email or ""), **fields
        )

    def subscribe(self, person, mailing_list):
        self.apps.get_model("subscribers", "Subscription").objects.create(
            subscriber=person, mailing_list=mailing_list, status="confirmed"
        )

    def event(self, person, newsletter, action="subscribed", ip=""):
        """A ledger event chained as ``ledger.append`` chained them (one chain per row)."""
        events = self.apps.get_model("subscribers", "ConsentEvent")
        previous = (
            events.objects.filter(subscriber=person).order_by("-id").values_list("hash", flat=True)
        ).first()
        event = events(
            subscriber=person,
            newsletter=newsletter,
            mailing_list=None,
            action=action,
            source="form",
            wording="Yes.",
            details={},
            email=person.email or "",
            ip_address=ip or None,
            user_agent="",
            email_digest=address_digest(person.email or ""),
            ip_digest=digest(ip),
            user_agent_digest="",
            created_at=self.now,
            previous_hash=previous or "",
        )
        event.hash = ledger.content_hash(event)
        event.save()
        return event

    def delivery(self, person, newsletter):
        layout = self.apps.get_model("campaigns", "Layout").objects.create(
            newsletter=newsletter, name=f"Layout {person.pk}", mjml="<mjml></mjml>"
        )
        campaign = self.apps.get_model("campaigns", "Campaign").objects.create(
            newsletter=newsletter,
            layout=layout,
            name=f"Issue {person.pk}",
            slug=f"issue-{person.pk}-{newsletter.pk}",
            subject="Hi",
            status="sent",
        )
        delivery = self.apps.get_model("delivery", "Delivery").objects.create(
            campaign=campaign, subscriber=person, status="sent"
        )
        self.apps.get_model("tracking", "Event").objects.create(
            campaign=campaign,
            delivery_id=delivery.pk,
            subscriber=person,
            kind="open",
            agent="desktop",
            ip="203.0.113.5",
            occurred_at=self.now,
        )
        self.apps.get_model("tracking", "Engagement").objects.create(
            delivery_id=delivery.pk, campaign=campaign, subscriber=person
        )
        return delivery


def test_a_person_in_two_newsletters_becomes_two_contacts_with_their_own_rows(old_apps):
    world = OldWorld(old_apps)
    ada = world.person("ada@example.org", name="Ada", attributes={"city": "Lyon"})
    world.subscribe(ada, world.a_news)
    world.subscribe(ada, world.b_news)
    events = [
        world.event(ada, world.a, ip="198.51.100.1"),
        world.event(ada, world.b),
        world.event(ada, world.a, "confirmed"),
        world.event(ada, None, "erased"),  # named no newsletter: stays with the row
        world.event(ada, world.b, "confirmed"),
    ]
    head = events[-1].hash
    a_delivery = world.delivery(ada, world.a)
    b_delivery = world.delivery(ada, world.b)
    grace = world.person("grace@example.org", name="Grace")
    world.subscribe(grace, world.a_news)
    grace_event = world.event(grace, world.a)
    nobody = world.person("nobody@example.org")
    old_apps.get_model("subscribers", "Suppression").objects.create(
        email_digest=address_digest("gone@example.org"), reason="hard_bounce"
    )

    migrate_to_today()

    a_contact = Subscriber.objects.get(pk=ada.pk)
    b_contact = Subscriber.objects.get(newsletter_id=world.b.pk, email="ada@example.org")
    assert (a_contact.newsletter_id, b_contact.split_from) == (world.a.pk, ada.pk)
    for contact in (a_contact, b_contact):
        assert (contact.name, contact.attributes) == ("Ada", {"city": "Lyon"})
    assert list(a_contact.subscriptions.values_list("mailing_list", flat=True)) == [world.a_news.pk]
    assert list(b_contact.subscriptions.values_list("mailing_list", flat=True)) == [world.b_news.pk]
    assert Subscription.objects.get(subscriber=b_contact).newsletter_id == world.b.pk
    assert Delivery.objects.get(pk=a_delivery.pk).subscriber_id == a_contact.pk
    assert Delivery.objects.get(pk=b_delivery.pk).subscriber_id == b_contact.pk
    assert Event.objects.get(delivery_id=b_delivery.pk).subscriber_id == b_contact.pk
    assert Engagement.objects.get(delivery_id=b_delivery.pk).subscriber_id == b_contact.pk

    # Each contact's chain holds its newsletter's events, verifies, and ends with a
    # record of the shared chain it was cut from.
    a_events = list(a_contact.consent_events.order_by("pk"))
    b_events = list(b_contact.consent_events.order_by("pk"))
    assert [e.pk for e in a_events[:-1]] == [events[0].pk, events[2].pk, events[3].pk]
    assert [e.pk for e in b_events[:-1]] == [events[1].pk, events[4].pk]
    assert a_events[0].ip_address == "198.51.100.1"
    for contact, chain in ((a_contact, a_events), (b_contact, b_events)):
        report = ledger.verify_chain(contact)
        assert report.valid, report.problem
        anchor = chain[-1]
        assert (anchor.action, anchor.source) == ("split", "migration")
        assert anchor.details["previous_head"] == head
        assert anchor.details["previous_events"] == 5
        assert anchor.details["previous_chain_verified"] is True
        assert anchor.details["from_subscriber"] == ada.pk
    # The anchors name every event of the old chain with its old hash: it can be rebuilt.
    relinked = sorted(
        pair for chain in (a_events, b_events) for pair in chain[-1].details["relinked"]
    )
    assert relinked == sorted([event.pk, event.hash] for event in events)

    # Someone in one newsletter only is left exactly as they were.
    grace_now = Subscriber.objects.get(pk=grace.pk)
    assert grace_now.newsletter_id == world.a.pk
    assert list(grace_now.consent_events.values_list("hash", flat=True)) == [grace_event.hash]
    # A row in no newsletter was nobody's contact.
    assert not Subscriber.objects.filter(pk=nobody.pk).exists()
    # Suppressions stay instance-wide.
    assert Suppression.objects.get().instance_wide

    # Links mailed before the split still reach each newsletter's contact.
    assert services.contact_for_claim(Claim(ada.pk, world.b.pk)) == b_contact
    assert services.contact_for_claim(Claim(ada.pk, world.a.pk)) == a_contact
    assert services.contact_for_claim(Claim(grace.pk, world.b.pk)) is None


def test_an_erased_person_in_two_newsletters_stays_erased_in_both(old_apps):
    world = OldWorld(old_apps)
    gone = world.person("gone@example.org")
    world.event(gone, world.a)
    world.event(gone, world.b)
    world.event(gone, world.b, "erased")
    erased = old_apps.get_model("subscribers", "Subscriber")
    erased.objects.filter(pk=gone.pk).update(email=None, email_digest="", status="erased")
    old_apps.get_model("subscribers", "ConsentEvent").objects.filter(subscriber=gone).update(
        email=""
    )

    migrate_to_today()

    contacts = Subscriber.objects.filter(pk=gone.pk) | Subscriber.objects.filter(split_from=gone.pk)
    assert sorted(contacts.values_list("newsletter_id", "email", "status")) == [
        (world.a.pk, None, "erased"),
        (world.b.pk, None, "erased"),
    ]
    for contact in contacts:
        assert ledger.verify_chain(contact).valid
    assert ConsentEvent.objects.filter(action="split").count() == 2
