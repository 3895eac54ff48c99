"""Reads of the delivery ledger that must stay index probes however many rows it holds.

Deliveries have no index by subscriber alone (each index is one more entry for each of
a million rows when a campaign starts): a person's rows are found campaign by campaign
in the unique (campaign, subscriber) index, or among rows with an outcome. With
sequential scans priced out, a query that no index can answer still reads a whole
table or index, without an index condition: these fail when a lookup loses its index.
"""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns.models import Status
from delivery import feedback
from delivery.models import Delivery, DeliveryStatus
from delivery.progress import campaign_progress
from delivery.receivers import forget_erased_contact
from subscribers.models import Subscriber
from subscribers.personal_data import export_person
from tests.factories import CampaignFactory, NewsletterFactory, SubscriberFactory

pytestmark = pytest.mark.django_db


def leading_columns() -> dict[str, str]:
    """Each index of the delivery table, with its first column."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, a.attname FROM pg_index i"
            " JOIN pg_class c ON c.oid = i.indexrelid"
            " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]"
            " WHERE i.indrelid = 'delivery_delivery'::regclass"
        )
        return dict(cursor.fetchall())


def unbounded_scans(plans: list[str]) -> list[str]:
    """The plan nodes that read delivery rows without bounding the first column of the
    index they use: a sequential scan or, with those priced out, a whole index read
    from end to end (its condition on a later column is then only a filter)."""
    leading = leading_columns()
    unbounded = []
    for node in (node for plan in plans for node in plan.split("->")):
        header = node.splitlines()[0]
        if re.search(r"Seq Scan on delivery_delivery(\s|$)", header):
            unbounded.append(node)
        used = re.search(r"Index (?:Only )?Scan (?:Backward )?(?:using|on) (\w+)", header)
        bounded = used and re.search(rf"Index Cond: .*\b{leading.get(used[1])}\b", node)
        if used and used[1] in leading and not bounded:
            unbounded.append(node)
    return unbounded


def plans_of(queries) -> list[str]:
    """The plans of the captured queries that read or write delivery rows."""
    plans = []
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        for query in queries.captured_queries:
            if "delivery_delivery" not in query["sql"]:
                continue
            cursor.execute("EXPLAIN " + query["sql"])
            plans.append("\n".join(row[0] for row in cursor.fetchall()))
    return plans


@pytest.fixture
def person():
    newsletter = NewsletterFactory()
    contact = SubscriberFactory(newsletter=newsletter)
    for _ in range(2):
        campaign = CampaignFactory(newsletter=newsletter, status=Status.SENT)
        Delivery.objects.create(
            campaign=campaign, subscriber=contact, status=DeliveryStatus.SENT, last_error="x"
        )
    return contact


def test_the_unique_index_leads_with_the_campaign():
    """A new campaign's entries then go to the index's right edge, not into every
    person's run (docs/decisions.md)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'one_delivery_per_recipient'"
        )
        (definition,) = cursor.fetchone()
    assert "(campaign_id, subscriber_id)" in definition


def test_erasure_finds_the_persons_rows_through_the_unique_index(person):
    with CaptureQueriesContext(connection) as queries:
        forget_erased_contact(sender=Subscriber, contact=person, email="", everywhere=False)
    assert not Delivery.objects.filter(subscriber=person).exclude(last_error="").exists()
    plans = plans_of(queries)
    assert plans
    assert not unbounded_scans(plans), plans
    assert any("one_delivery_per_recipient" in plan for plan in plans), plans


def test_the_data_export_finds_the_persons_rows_through_the_unique_index(person):
    with CaptureQueriesContext(connection) as queries:
        exported = export_person(person)
    assert exported
    plans = plans_of(queries)
    assert plans
    assert not unbounded_scans(plans), plans


def test_the_soft_bounce_limit_reads_only_rows_with_an_outcome(person, settings):
    settings.SOFT_BOUNCE_LIMIT = 2
    Delivery.objects.filter(subscriber=person).update(bounced_at=timezone.now(), bounce_type="soft")
    with CaptureQueriesContext(connection) as queries:
        assert feedback._soft_bounce_limit_reached(person.pk)
    plans = plans_of(queries)
    assert len(plans) == 1
    assert "delivery_outcome_by_subscriber" in plans[0], plans


def test_progress_counts_rows_waiting_for_their_hour_without_a_scan():
    campaign = CampaignFactory(status=Status.SENDING, recipient_count=2)
    later = timezone.now() + timedelta(hours=3)
    for next_attempt_at in (None, later):
        Delivery.objects.create(
            campaign=campaign,
            subscriber=SubscriberFactory(newsletter=campaign.newsletter),
            next_attempt_at=next_attempt_at,
        )
    with CaptureQueriesContext(connection) as queries:
        shown = campaign_progress(campaign=campaign)
    assert (shown.queued, shown.waiting) == (2, 1)
    plans = plans_of(queries)
    assert not unbounded_scans(plans), plans
    assert any("delivery_queued_for_later" in plan for plan in plans), plans
