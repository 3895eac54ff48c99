"""The feedback service outside the webhooks: send-time refusals, counts, bounce types, pruning."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from anymail.signals import EventType
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns.models import Status
from delivery import feedback, lifecycle, sending
from delivery.models import Delivery, DeliveryEvent, DeliveryStatus
from delivery.selectors import feedback_counts
from delivery.signals import delivery_bounced
from subscribers import services as subscribers
from subscribers import suppressions
from subscribers.models import ConsentSource, Subscriber
from tests.factories import CampaignFactory, MailingListFactory, NewsletterFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def newsletter():
    return NewsletterFactory()


@pytest.fixture
def mailing_list(newsletter):
    return MailingListFactory(newsletter=newsletter)


def subscribe(newsletter, mailing_list, email) -> Subscriber:
    subscribers.subscribe(
        newsletter=newsletter,
        email=email,
        lists=[mailing_list],
        source=ConsentSource.DASHBOARD,
        wording="I agree.",
        attestation="test",
        actor="t",
    )
    return Subscriber.objects.get(email=email)


def test_a_refusal_at_send_time_is_a_hard_bounce_through_the_same_service(
    newsletter, mailing_list, smtp_sink, django_capture_on_commit_callbacks
):
    smtp_sink.handler.refuse = {"gone@example.org": "550 5.1.1 No such user"}
    subscribe(newsletter, mailing_list, "gone@example.org")
    campaign = CampaignFactory(newsletter=newsletter)
    campaign.lists.set([mailing_list])
    announced = []

    def listen(sender, delivery, subscriber, bounce_type, **kwargs):
        announced.append((delivery.pk, subscriber.email, bounce_type))

    delivery_bounced.connect(listen)
    try:
        lifecycle.campaign_start(campaign=campaign)
        with django_capture_on_commit_callbacks(execute=True):
            while sending.send_batches(campaign_id=campaign.pk):
                pass
    finally:
        delivery_bounced.disconnect(listen)
    row = Delivery.objects.get()
    assert row.status == "failed"
    assert row.bounce_type == "hard"
    assert DeliveryEvent.objects.get().esp == "send"
    # Refused at hand-over, nothing sent: the newsletter's own suppression.
    assert suppressions.reasons("gone@example.org", newsletter) == {"hard_bounce"}
    assert not suppressions.reasons("gone@example.org", NewsletterFactory())
    assert Subscriber.objects.get().status == "bounced"
    assert announced == [(row.pk, "gone@example.org", "hard")]
    assert feedback_counts(campaign)["bounced_hard"] == 1


def test_feedback_counts_counts_messages_once_per_kind(newsletter, mailing_list):
    campaign = CampaignFactory(newsletter=newsletter, status=Status.SENT)
    now = timezone.now()
    outcomes = [
        {"delivered_at": now},
        {"delivered_at": now, "complained_at": now},
        {"delivered_at": now, "esp_unsubscribed_at": now},
        # Left through Crier's link, and the ESP heard of it too: one person, counted once.
        {"delivered_at": now, "unsubscribed_at": now, "esp_unsubscribed_at": now},
        {"unsubscribed_at": now},
        {"bounced_at": now, "bounce_type": "hard"},
        {"bounced_at": now, "bounce_type": "soft"},
        {"rejected_at": now},
        {},
    ]
    for number, outcome in enumerate(outcomes):
        person = subscribe(newsletter, mailing_list, f"p{number}@example.org")
        Delivery.objects.create(
            campaign=campaign, subscriber=person, status=DeliveryStatus.SENT, **outcome
        )
    other = CampaignFactory(newsletter=newsletter, status=Status.SENT)
    Delivery.objects.create(
        campaign=other, subscriber=person, status=DeliveryStatus.SENT, delivered_at=now
    )
    assert feedback_counts(campaign) == {
        "delivered": 4,
        "bounced_hard": 1,
        "bounced_soft": 1,
        "complained": 1,
        "rejected": 1,
        "unsubscribed": 3,
        "esp_unsubscribed": 2,
    }


def test_feedback_counts_reads_only_its_partial_indexes(newsletter):
    campaign = CampaignFactory(newsletter=newsletter, status=Status.SENT)
    with CaptureQueriesContext(connection) as queries:
        feedback_counts(campaign)
    plans = []
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        for query in queries.captured_queries:
            cursor.execute("EXPLAIN " + query["sql"])
            plans.append("\n".join(row[0] for row in cursor.fetchall()))
    assert len(plans) == 2
    assert any("delivery_negative_feedback" in plan for plan in plans), plans
    assert any("delivery_delivered" in plan for plan in plans), plans


def event(event_type, **values):
    fields = {
        "event_type": event_type,
        "event_id": "e1",
        "recipient": "ada@example.org",
        "metadata": {},
        "message_id": None,
        "reject_reason": None,
        "description": None,
        "mta_response": None,
        "timestamp": None,
        "esp_event": {},
    }
    return SimpleNamespace(**{**fields, **values})


@pytest.mark.parametrize(
    ("response", "bounce_type"),
    [
        ("550 5.1.1 User unknown", "hard"),
        ("smtp; 452 4.2.2 Mailbox full", "soft"),
        ("421 Try again later", "soft"),
        ("", "hard"),
    ],
)
def test_without_an_esp_rule_the_smtp_status_tells_hard_from_soft(response, bounce_type):
    normalised = feedback.from_anymail(event(EventType.BOUNCED, mta_response=response), "SparkPost")
    assert normalised.bounce_type == bounce_type
    assert normalised.esp == "sparkpost"


def test_events_we_do_not_act_on_are_left_alone():
    for event_type in (EventType.OPENED, EventType.CLICKED, EventType.DEFERRED, EventType.QUEUED):
        assert feedback.from_anymail(event(event_type), "Postmark") is None


def test_an_event_without_an_id_is_known_by_its_payload():
    first = feedback.from_anymail(
        event(EventType.DELIVERED, event_id=None, esp_event={"a": 1}), "x"
    )
    again = feedback.from_anymail(
        event(EventType.DELIVERED, event_id=None, esp_event={"a": 1}), "x"
    )
    other = feedback.from_anymail(
        event(EventType.DELIVERED, event_id=None, esp_event={"a": 2}), "x"
    )
    assert first.event_id == again.event_id != other.event_id


def test_old_events_are_pruned_but_the_outcome_stays(newsletter, mailing_list):
    person = subscribe(newsletter, mailing_list, "ada@example.org")
    campaign = CampaignFactory(newsletter=newsletter, status=Status.SENT)
    delivery = Delivery.objects.create(
        campaign=campaign, subscriber=person, status=DeliveryStatus.SENT
    )
    feedback.record(
        feedback=feedback.Feedback(
            esp="postmark",
            event_id="1",
            kind="delivered",
            recipient="ada@example.org",
            delivery_id=delivery.pk,
        ),
        scope=feedback.INTERNAL,
    )
    DeliveryEvent.objects.update(received_at=timezone.now() - timedelta(days=31))
    assert feedback.prune_events() == 1
    delivery.refresh_from_db()
    assert delivery.delivered_at is not None
