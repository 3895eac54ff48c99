"""A feed's issues narrowed by a segment, as a campaign's are: service, API and page."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from audiences import services as audiences
from campaigns.models import Status
from delivery.models import Delivery
from feeds import services
from feeds.models import Feed, FeedAction
from newsletter.models import Role, TrackingPolicy
from tests.api.conftest import make_api
from tests.factories import MembershipFactory, NewsletterFactory

from .test_dashboard import form_data
from .test_services import follow, later

pytestmark = pytest.mark.django_db

FRENCH = {"all": [{"field": "language", "op": "eq", "value": "fr"}]}


@pytest.fixture
def french(newsletter):
    return audiences.segment_create(newsletter=newsletter, name="French speakers", rules=FRENCH)


def speaks_french(releases):
    """One of the two readers of ``releases`` speaks French; returns them."""
    reader = releases.subscriptions.order_by("pk").first().subscriber
    reader.language = "fr"
    reader.save(update_fields=["language"])
    return reader


def test_a_sent_issue_goes_only_to_the_people_of_its_lists_the_segment_picks(
    feed_server, newsletter, layout, releases, french
):
    reader = speaks_french(releases)
    feed = follow(
        newsletter,
        layout,
        [releases],
        f"{feed_server.url}/releases.rss",
        action=FeedAction.SEND,
        segment=french,
    )
    issue = services.feed_run(feed_id=feed.pk, now=later(feed))
    assert issue.segment == french
    assert list(Delivery.objects.filter(campaign=issue).values_list("subscriber", flat=True)) == [
        reader.pk
    ]


def test_another_newsletters_segment_is_refused_and_nothing_is_saved(
    feed_server, newsletter, layout, releases
):
    theirs = audiences.segment_create(newsletter=NewsletterFactory(), name="Theirs", rules=FRENCH)
    with pytest.raises(ValidationError) as caught:
        follow(newsletter, layout, [releases], f"{feed_server.url}/releases.rss", segment=theirs)
    assert caught.value.message_dict == {"segment": ["No such segment in this newsletter."]}
    assert not Feed.objects.exists()


def test_a_segment_a_feed_uses_cannot_be_deleted(feed_server, newsletter, layout, releases, french):
    follow(newsletter, layout, [releases], f"{feed_server.url}/releases.rss", segment=french)
    with pytest.raises(ValidationError) as caught:
        audiences.segment_delete(segment=french)
    assert "Releases" in caught.value.messages[0]


def test_the_api_sets_and_clears_a_feeds_segment_by_id(
    feed_server, newsletter, layout, releases, french, redis_client
):
    api = make_api(newsletter)
    address = f"{feed_server.url}/releases.rss"
    created = api.post(
        "/api/v1/feeds/",
        {"name": "Releases", "url": address, "lists": ["releases"], "segment": french.pk},
    )
    assert created.status_code == 201, created.content
    assert created.json()["segment"] == french.pk
    feed_id = created.json()["id"]
    cleared = api.patch(f"/api/v1/feeds/{feed_id}/", {"segment": None})
    assert cleared.status_code == 200, cleared.content
    assert cleared.json()["segment"] is None
    kept = api.patch(f"/api/v1/feeds/{feed_id}/", {"name": "Renamed"})
    assert kept.json()["segment"] is None
    theirs = audiences.segment_create(newsletter=NewsletterFactory(), name="Theirs", rules=FRENCH)
    refused = api.patch(f"/api/v1/feeds/{feed_id}/", {"segment": theirs.pk})
    assert refused.status_code == 422
    assert refused.json()["errors"] == {"segment": ["No such segment in this newsletter."]}
    assert Feed.objects.get().segment is None


def test_the_feed_form_offers_this_newsletters_segments(
    client, feed_server, newsletter, layout, releases, french
):
    audiences.segment_create(newsletter=NewsletterFactory(), name="Not ours", rules=FRENCH)
    client.force_login(MembershipFactory(newsletter=newsletter, role=Role.EDITOR).user)
    create = reverse("dashboard:feed_create", args=[newsletter.slug])
    page = client.get(create).content.decode()
    assert "French speakers" in page and "Not ours" not in page
    response = client.post(
        create,
        form_data(layout, releases, f"{feed_server.url}/releases.rss", segment=french.pk),
    )
    assert response.status_code == 302, response.content
    assert Feed.objects.get().segment == french


def test_a_segment_broken_since_keeps_a_send_issue_a_draft_never_sent_to_the_whole_lists(
    feed_server, newsletter, layout, releases
):
    newsletter.tracking_policy = TrackingPolicy.INDIVIDUAL
    newsletter.save(update_fields=["tracking_policy"])
    unengaged = audiences.segment_create(
        newsletter=newsletter,
        name="Not opened lately",
        rules={"not": {"field": "opened", "op": "in_last_days", "value": 30}},
    )
    feed = follow(
        newsletter,
        layout,
        [releases],
        f"{feed_server.url}/releases.rss",
        action=FeedAction.SEND,
        segment=unengaged,
    )
    newsletter.tracking_policy = TrackingPolicy.AGGREGATE
    newsletter.save(update_fields=["tracking_policy"])
    issue = services.feed_run(feed_id=feed.pk, now=later(feed))
    issue.refresh_from_db()
    assert issue.status == Status.DRAFT and issue.segment == unengaged
    assert not Delivery.objects.exists()
    feed.refresh_from_db()
    assert "kept as a draft" in feed.last_error and "tracking policy" in feed.last_error


def test_the_feeds_page_and_its_send_confirmation_name_the_segment(
    client, feed_server, newsletter, layout, releases, french
):
    feed = follow(
        newsletter,
        layout,
        [releases],
        f"{feed_server.url}/releases.rss",
        action=FeedAction.SEND,
        segment=french,
    )
    client.force_login(MembershipFactory(newsletter=newsletter, role=Role.EDITOR).user)
    detail = client.get(reverse("dashboard:feed_detail", args=[newsletter.slug, feed.pk]))
    assert "Only the people “French speakers” picks" in detail.content.decode()
    confirm = client.post(reverse("dashboard:feed_run", args=[newsletter.slug, feed.pk]))
    assert "Only the people the segment “French speakers” picks." in confirm.content.decode()
    assert not Delivery.objects.exists()
