import json
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from campaigns.models import Status
from delivery import lifecycle, sending, sweeper
from delivery.models import Delivery
from delivery.signals import delivery_complained
from subscribers import services as subscribers
from subscribers.models import ConsentSource, OptIn
from subscribers.tokens import Claim
from tests.factories import (
    CampaignFactory,
    MailingListFactory,
    NewsletterFactory,
    SubscriberFactory,
)
from webhooks import services, signing, tasks
from webhooks.events import Event
from webhooks.models import Endpoint, OutcomeStatus, WebhookDelivery

pytestmark = pytest.mark.django_db
EVERYTHING = [event.value for event in Event if event != Event.PING]


@pytest.fixture
def newsletter():
    return NewsletterFactory(slug="proj")


@pytest.fixture
def news(newsletter):
    return MailingListFactory(newsletter=newsletter, slug="news", name="News")


@pytest.fixture
def endpoint(newsletter, receiver):
    return services.endpoint_create(newsletter=newsletter, url=receiver.url, events=EVERYTHING)


def subscribe(newsletter, lists, email="ada@example.org"):
    return subscribers.subscribe(
        newsletter=newsletter, email=email, lists=lists, source=ConsentSource.FORM, wording="Yes."
    )


def make_due(row):
    WebhookDelivery.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())


# Endpoints


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("http://hooks.example.org/", "url"),
        ("https://10.0.0.7/hooks", "url"),
        ("https://169.254.169.254/", "url"),
        ("https://hooks.example.org/", "events"),
    ],
)
def test_endpoints_that_could_never_be_delivered_to_are_refused(newsletter, url, field):
    events = ["nonsense"] if field == "events" else [Event.CONFIRMED]
    with pytest.raises(ValidationError) as error:
        services.endpoint_create(newsletter=newsletter, url=url, events=events)
    assert field in error.value.message_dict
    assert not Endpoint.objects.exists()


def test_a_new_endpoint_gets_its_own_secret(newsletter):
    first = services.endpoint_create(
        newsletter=newsletter, url="https://hooks.example.org/a", events=[Event.CONFIRMED]
    )
    second = services.endpoint_create(
        newsletter=newsletter, url="https://hooks.example.org/b", events=[Event.CONFIRMED]
    )
    assert first.secret.startswith("whsec_") and len(first.secret) > 40
    assert first.secret != second.secret


# Events become outbox rows


def test_subscribe_confirm_and_unsubscribe_each_record_one_event(newsletter, news, endpoint):
    outcome = subscribe(newsletter, [news])
    claim = Claim(outcome.subscriber.pk, newsletter.pk)
    subscribers.confirm(claim=claim)
    subscribers.unsubscribe(claim=claim, source=ConsentSource.UNSUBSCRIBE_PAGE)

    rows = list(WebhookDelivery.objects.order_by("id"))
    assert [row.event for row in rows] == [Event.SUBSCRIBED, Event.CONFIRMED, Event.UNSUBSCRIBED]
    assert all(row.status == OutcomeStatus.PENDING for row in rows)
    payload = rows[1].payload
    assert payload["type"] == "subscriber.confirmed"
    assert payload["newsletter"] == "proj"
    assert payload["data"]["subscriber"]["email"] == "ada@example.org"
    assert payload["data"]["lists"] == [{"slug": "news", "name": "News"}]


def test_single_opt_in_is_subscribed_and_confirmed_at_once(newsletter, endpoint):
    instant = MailingListFactory(newsletter=newsletter, opt_in=OptIn.SINGLE)
    subscribe(newsletter, [instant])
    subscribe(newsletter, [instant])  # already confirmed: nothing new happened
    assert list(WebhookDelivery.objects.order_by("id").values_list("event", flat=True)) == [
        Event.SUBSCRIBED,
        Event.CONFIRMED,
    ]


def test_only_active_endpoints_of_the_newsletter_that_chose_the_event_get_it(
    newsletter, news, receiver
):
    wanted = services.endpoint_create(
        newsletter=newsletter, url=receiver.url, events=[Event.SUBSCRIBED]
    )
    services.endpoint_create(newsletter=newsletter, url=receiver.url, events=[Event.CONFIRMED])
    disabled = services.endpoint_create(
        newsletter=newsletter, url=receiver.url, events=[Event.SUBSCRIBED]
    )
    services.endpoint_disable(endpoint=disabled)
    other = NewsletterFactory()
    services.endpoint_create(newsletter=other, url=receiver.url, events=[Event.SUBSCRIBED])

    subscribe(newsletter, [news])
    assert [row.endpoint for row in WebhookDelivery.objects.all()] == [wanted]


def test_a_change_that_rolls_back_leaves_no_event(newsletter, news, endpoint):
    with pytest.raises(RuntimeError), transaction.atomic():
        subscribe(newsletter, [news])
        raise RuntimeError
    assert not WebhookDelivery.objects.exists()


def test_the_post_is_queued_only_after_commit(
    newsletter, news, endpoint, django_capture_on_commit_callbacks, monkeypatch
):
    queued = []
    monkeypatch.setattr(tasks.deliver, "delay", queued.append)
    with django_capture_on_commit_callbacks(execute=True):
        subscribe(newsletter, [news])
        assert queued == []
    assert queued == [WebhookDelivery.objects.get().pk]


def test_a_sent_campaign_is_announced_once(newsletter, news, endpoint):
    subscribers.subscribe(
        newsletter=newsletter,
        email="reader@example.org",
        lists=[news],
        source=ConsentSource.DASHBOARD,
        wording="Yes.",
        attestation="test",
    )  # a campaign to nobody is refused
    campaign = CampaignFactory(newsletter=newsletter, subject="Release 2.0")
    campaign.lists.set([news])
    lifecycle.campaign_start(campaign=campaign)
    while sending.send_batches(campaign_id=campaign.pk):
        pass
    sweeper.sweep()  # finds nothing left to finish: no second event
    campaign.refresh_from_db()
    assert campaign.status == Status.SENT
    row = WebhookDelivery.objects.get(event=Event.CAMPAIGN_SENT)
    assert row.payload["data"]["campaign"]["subject"] == "Release 2.0"
    assert row.payload["data"]["campaign"]["lists"] == ["news"]


def test_a_bounce_at_send_time_is_announced_with_its_type(
    newsletter, news, endpoint, smtp_sink, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(tasks.deliver, "delay", lambda pk: None)
    smtp_sink.handler.refuse = {"gone@example.org": "550 5.1.1 No such user"}
    subscribers.subscribe(
        newsletter=newsletter,
        email="gone@example.org",
        lists=[news],
        source=ConsentSource.DASHBOARD,
        wording="Yes.",
        attestation="test",
    )
    campaign = CampaignFactory(newsletter=newsletter, name="Spring")
    campaign.lists.set([news])
    lifecycle.campaign_start(campaign=campaign)
    with django_capture_on_commit_callbacks(execute=True):
        while sending.send_batches(campaign_id=campaign.pk):
            pass
    row = WebhookDelivery.objects.get(event=Event.BOUNCED)
    assert row.payload["data"]["subscriber"]["email"] == "gone@example.org"
    assert row.payload["data"]["campaign"] == {"id": campaign.pk, "name": "Spring"}
    assert row.payload["data"]["bounce_type"] == "hard"


def test_a_complaint_is_announced(newsletter, news, endpoint):
    subscriber = SubscriberFactory(email="angry@example.org")
    campaign = CampaignFactory(newsletter=newsletter, name="Spring")
    delivery = Delivery.objects.create(campaign=campaign, subscriber=subscriber)
    delivery_complained.send(sender=Delivery, delivery=delivery, subscriber=subscriber)
    row = WebhookDelivery.objects.get(event=Event.COMPLAINED)
    assert row.payload["data"]["subscriber"]["email"] == "angry@example.org"
    assert "bounce_type" not in row.payload["data"]


# Delivery


def test_a_delivery_is_posted_signed_and_marked_delivered(newsletter, news, endpoint, receiver):
    subscribe(newsletter, [news])
    row = WebhookDelivery.objects.get()

    assert services.deliver(delivery_id=row.pk) == OutcomeStatus.SUCCEEDED
    (request,) = receiver.requests
    assert json.loads(request.body) == row.payload
    assert request.headers["Crier-Event"] == "subscriber.subscribed"
    assert request.headers["Crier-Event-Id"] == str(row.event_id)
    assert request.headers["Content-Type"] == "application/json"
    assert signing.verify(
        secret=endpoint.secret, body=request.body, header=request.headers["Crier-Signature"]
    )
    row.refresh_from_db()
    assert row.status == OutcomeStatus.SUCCEEDED and row.attempts == 1
    assert row.last_status_code == 200 and row.finished_at is not None
    assert services.deliver(delivery_id=row.pk) is None  # finished: never posted again
    assert len(receiver.requests) == 1


def test_a_server_error_is_retried_later_with_backoff_then_delivered(
    newsletter, news, endpoint, receiver
):
    receiver.statuses = [500, 503]
    subscribe(newsletter, [news])
    row = WebhookDelivery.objects.get()

    assert services.deliver(delivery_id=row.pk) == OutcomeStatus.PENDING
    row.refresh_from_db()
    assert row.last_error == "HTTP 500" and row.attempts == 1
    assert row.next_attempt_at > timezone.now() + timedelta(seconds=29)
    assert services.deliver(delivery_id=row.pk) is None  # not due yet: nothing posted
    assert len(receiver.requests) == 1

    make_due(row)
    assert services.deliver(delivery_id=row.pk) == OutcomeStatus.PENDING
    make_due(row)
    assert services.deliver(delivery_id=row.pk) == OutcomeStatus.SUCCEEDED
    assert [attempt.status_code for attempt in row.attempt_log.all()] == [500, 503, 200]
    assert len({request.headers["Crier-Event-Id"] for request in receiver.requests}) == 1


def test_it_gives_up_after_the_last_attempt_and_says_why(
    newsletter, news, endpoint, receiver, settings
):
    settings.WEBHOOKS_MAX_ATTEMPTS = 2
    receiver.statuses = [500, 502, 200]
    subscribe(newsletter, [news])
    row = WebhookDelivery.objects.get()
    services.deliver(delivery_id=row.pk)
    make_due(row)
    assert services.deliver(delivery_id=row.pk) == OutcomeStatus.FAILED
    row.refresh_from_db()
    assert row.status == OutcomeStatus.FAILED and row.last_error == "HTTP 502"
    assert row.next_attempt_at is None
    assert services.redispatch_due() == 0


def test_an_address_that_became_private_fails_at_once(newsletter, news, endpoint, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    subscribe(newsletter, [news])
    row = WebhookDelivery.objects.get()
    assert services.deliver(delivery_id=row.pk) == OutcomeStatus.FAILED
    row.refresh_from_db()
    assert row.last_error.startswith("refused:") and row.attempts == 1


def test_beat_requeues_due_rows_only(newsletter, news, endpoint, monkeypatch):
    queued = []
    monkeypatch.setattr(tasks.deliver, "delay", queued.append)
    subscribe(newsletter, [news])
    subscribe(newsletter, [news], email="grace@example.org")
    later, due = WebhookDelivery.objects.order_by("id")
    WebhookDelivery.objects.filter(pk=later.pk).update(
        next_attempt_at=timezone.now() + timedelta(minutes=5)
    )
    assert services.redispatch_due() == 1
    assert queued == [due.pk]


def test_disabling_an_endpoint_gives_up_what_was_waiting(newsletter, news, endpoint, receiver):
    subscribe(newsletter, [news])
    services.endpoint_disable(endpoint=endpoint)
    row = WebhookDelivery.objects.get()
    assert row.status == OutcomeStatus.FAILED and row.last_error == "endpoint disabled"
    assert services.deliver(delivery_id=row.pk) is None
    assert receiver.requests == []


def test_a_test_event_goes_to_one_endpoint_whatever_it_chose(newsletter, receiver):
    endpoint = services.endpoint_create(
        newsletter=newsletter, url=receiver.url, events=[Event.CAMPAIGN_SENT]
    )
    row = services.send_test(endpoint=endpoint)
    assert services.deliver(delivery_id=row.pk) == OutcomeStatus.SUCCEEDED
    assert json.loads(receiver.requests[0].body)["type"] == "ping"


def test_backoff_grows_and_is_capped():
    assert timedelta(seconds=30) <= services.backoff(1) <= timedelta(seconds=60)
    assert timedelta(minutes=4) <= services.backoff(4) <= timedelta(minutes=8)
    assert services.backoff(30) <= timedelta(hours=6)
