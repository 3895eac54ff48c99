"""From hits to counts: policies enforced, machines told apart, nothing lost or doubled."""

from datetime import timedelta

import pytest
from django.apps import apps
from django.utils import timezone

from tests.factories import SubscriberFactory
from tracking import buffer, services
from tracking.buffer import get_buffer
from tracking.models import CampaignCount, Engagement, Event, HourlyCount, Link

from .conftest import make_campaign, send_to, tracking_urls

pytestmark = pytest.mark.django_db

IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"
APPLE_PROXY = "Mozilla/5.0"


def visit(client, path, agent=IPHONE, ip="203.0.113.9"):
    return client.get(path, HTTP_USER_AGENT=agent, REMOTE_ADDR=ip)


def counts(campaign) -> CampaignCount:
    return CampaignCount.objects.get(campaign=campaign)


def test_aggregate_counts_people_and_machines_and_stores_nobody(client, subscriber):
    campaign = make_campaign("aggregate")
    _, html = send_to(campaign, subscriber)
    urls = tracking_urls(html)
    notes, docs, _, hidden = urls["click"]
    visit(client, urls["open"][0])
    visit(client, urls["open"][0])
    visit(client, urls["open"][0], agent=APPLE_PROXY)
    visit(client, notes)
    visit(client, docs, agent="Mozilla/5.0 (compatible; Barracuda Sentinel)")
    visit(client, hidden, agent=IPHONE)

    assert services.flush() == 6
    total = counts(campaign)
    assert (total.opens_human, total.opens_machine) == (2, 1)
    assert (total.clicks_human, total.clicks_machine, total.scanner_visits) == (1, 1, 1)
    assert list(Link.objects.values_list("url", "clicks_human", "clicks_machine")) == [
        ("https://example.org/notes?a=1&b=2", 1, 0),
        ("https://docs.example.org/", 0, 1),
    ]
    hour = HourlyCount.objects.get(campaign=campaign)
    assert (hour.opens_human, hour.opens_machine, hour.clicks_human, hour.clicks_machine) == (
        2,
        1,
        1,
        1,
    )
    assert get_buffer().pending() == 0

    # No stored row in any tracking table can lead to a person or an address.
    for model in apps.get_app_config("tracking").get_models():
        for field in model._meta.fields:
            if field.name in ("subscriber", "delivery_id", "ip"):
                assert not model.objects.exclude(**{f"{field.attname}__isnull": True}).exists()
        assert subscriber.email not in str(list(model.objects.values()))
    assert not Event.objects.exists() and not Engagement.objects.exists()


def test_individual_records_events_and_unique_counts_without_ip_by_default(client, subscriber):
    campaign = make_campaign("individual")
    delivery, html = send_to(campaign, subscriber)
    urls = tracking_urls(html)
    visit(client, urls["open"][0], agent=APPLE_PROXY)
    visit(client, urls["open"][0])
    visit(client, urls["open"][0])
    visit(client, urls["click"][0])
    services.flush()

    total = counts(campaign)
    assert (total.opens_human, total.opens_machine, total.clicks_human) == (2, 1, 1)
    assert (total.unique_opens_human, total.unique_opens_machine) == (1, 1)
    assert total.unique_clicks_human == 1
    events = Event.objects.filter(subscriber=subscriber)
    assert events.count() == 4 and set(events.values_list("delivery_id", flat=True)) == {
        delivery.pk
    }
    assert set(events.values_list("agent", flat=True)) == {"apple_proxy", "mobile"}
    assert not events.exclude(ip__isnull=True).exists()
    engagement = Engagement.objects.get(delivery_id=delivery.pk)
    assert engagement.first_human_open_at and engagement.first_human_click_at

    # Opening again later adds to the totals, not to the unique counts.
    visit(client, urls["open"][0])
    services.flush()
    total = counts(campaign)
    assert (total.opens_human, total.unique_opens_human) == (3, 1)


def test_individual_keeps_the_ip_only_when_the_newsletter_asks(client, subscriber):
    campaign = make_campaign("individual", record_tracking_ip=True)
    _, html = send_to(campaign, subscriber)
    visit(client, tracking_urls(html)["open"][0])
    services.flush()
    assert Event.objects.get().ip == "203.0.113.9"


def test_an_opt_out_after_sending_is_honoured_by_the_flush(client, subscriber):
    campaign = make_campaign("individual")
    _, html = send_to(campaign, subscriber)
    visit(client, tracking_urls(html)["open"][0])
    subscriber.tracking_opt_out = True
    subscriber.save()
    services.flush()
    assert counts(campaign).opens_human == 1
    assert not Event.objects.exists() and not Engagement.objects.exists()


def test_a_switch_to_aggregate_after_sending_stops_individual_rows(client, subscriber):
    campaign = make_campaign("individual")
    _, html = send_to(campaign, subscriber)
    campaign.newsletter.tracking_policy = "aggregate"
    campaign.newsletter.save()
    visit(client, tracking_urls(html)["click"][0])
    services.flush()
    assert counts(campaign).clicks_human == 1
    assert not Event.objects.exists() and not Engagement.objects.exists()


def test_fetches_right_after_delivery_or_beside_the_hidden_link_are_machines(client):
    campaign = make_campaign("individual")
    _, fresh = send_to(campaign, SubscriberFactory(), seconds_ago=1)
    _, scanned = send_to(campaign, SubscriberFactory())
    visit(client, tracking_urls(fresh)["click"][0])
    scanned_urls = tracking_urls(scanned)
    visit(client, scanned_urls["click"][0])
    visit(client, scanned_urls["click"][-1])  # the hidden link
    services.flush()
    total = counts(campaign)
    assert (total.clicks_human, total.clicks_machine, total.scanner_visits) == (0, 2, 1)
    assert (total.unique_clicks_human, total.unique_clicks_machine) == (0, 2)


def test_a_flush_that_fails_loses_nothing(client, subscriber, monkeypatch):
    campaign = make_campaign("aggregate")
    _, html = send_to(campaign, subscriber)
    for _ in range(7):
        visit(client, tracking_urls(html)["open"][0])

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "_add_counts", broken)
    with pytest.raises(RuntimeError):
        services.flush(chunk_size=3)
    monkeypatch.undo()
    assert not CampaignCount.objects.exists()
    assert get_buffer().pending() == 7
    assert services.flush(chunk_size=3) == 7
    assert counts(campaign).opens_human == 7


def test_a_batch_counted_but_not_dropped_is_not_counted_twice(client, subscriber, monkeypatch):
    """The worker dies after the counts commit and before the batch leaves Redis."""
    campaign = make_campaign("aggregate")
    _, html = send_to(campaign, subscriber)
    for _ in range(5):
        visit(client, tracking_urls(html)["open"][0])
    buffer = get_buffer()
    monkeypatch.setattr(type(buffer), "finish", lambda self, batch: None)
    services.flush(chunk_size=2)
    monkeypatch.undo()
    assert buffer.pending() == 5  # still there, as after a crash
    visit(client, tracking_urls(html)["open"][0])
    assert services.flush(chunk_size=2) == 1
    assert counts(campaign).opens_human == 6
    assert buffer.pending() == 0


def test_unreadable_records_are_dropped_not_fatal(client, subscriber):
    campaign = make_campaign("aggregate")
    _, html = send_to(campaign, subscriber)
    get_buffer().push("nonsense")
    visit(client, tracking_urls(html)["open"][0])
    assert services.flush() == 1
    assert counts(campaign).opens_human == 1


def test_no_open_or_click_ever_changes_a_subscription(client, subscriber):
    campaign = make_campaign("individual")
    _, html = send_to(campaign, subscriber, seconds_ago=1)
    for path in tracking_urls(html)["click"]:
        visit(client, path, agent="python-requests/2.31")
    services.flush()
    subscriber.refresh_from_db()
    assert subscriber.status == "active"
    assert counts(campaign).clicks_machine == 3
    assert timezone.now() - Engagement.objects.get().first_machine_click_at < timedelta(hours=1)


def test_a_broken_redis_connection_is_replaced_without_losing_the_hit(client, subscriber):
    campaign = make_campaign("aggregate")
    _, html = send_to(campaign, subscriber)
    visit(client, tracking_urls(html)["open"][0])
    buffer._sender.connection._sock.close()  # the connection dies under the web process
    visit(client, tracking_urls(html)["open"][0])
    assert services.flush() == 2
    assert counts(campaign).opens_human == 2
