"""Following a feed: what is refused, what an issue holds, and that nothing goes twice."""

import socket
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from campaigns.models import Campaign, Status
from delivery.models import Delivery
from feeds import services
from feeds.fetching import FeedError, fetch
from feeds.models import Feed, FeedAction, FeedItem
from feeds.tasks import run_due_feeds
from newsletter import network
from tests.factories import LayoutFactory, MailingListFactory, NewsletterFactory

pytestmark = pytest.mark.django_db


def follow(newsletter, layout, lists, url, **fields) -> Feed:
    return services.feed_create(
        newsletter=newsletter,
        created_by=None,
        lists=lists,
        **{"name": "Releases", "url": url, "layout": layout, **fields},
    )


def later(feed: Feed) -> timezone.datetime:
    return feed.next_run_at + timedelta(seconds=1)


# Following


def test_following_an_rss_feed_reads_its_title_and_waits_for_its_first_period(
    feed_server, newsletter, layout, releases
):
    feed = follow(newsletter, layout, [releases], f"{feed_server.url}/releases.rss")
    assert feed.title == "Demo releases"
    assert list(feed.lists.all()) == [releases]
    assert feed.next_run_at > timezone.now() + timedelta(hours=23)
    assert not Campaign.objects.exists()


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/not-a-feed.html", "did not return an RSS or Atom feed"),
        ("/large.rss", "larger than 64 KB"),
        ("/slow.rss", "longer than 1 seconds"),
        ("/missing.rss", "answered HTTP 404"),
    ],
)
def test_an_address_that_is_not_a_usable_feed_is_an_error_on_the_url_and_nothing_is_saved(
    feed_server, settings, newsletter, layout, releases, path, message
):
    settings.FEEDS_MAX_BYTES = 64 * 1024
    with pytest.raises(ValidationError) as error:
        follow(newsletter, layout, [releases], feed_server.url + path)
    assert list(error.value.message_dict) == ["url"]
    assert message in error.value.message_dict["url"][0]
    assert not Feed.objects.exists()


@pytest.fixture
def no_network(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("the feed was fetched")

    monkeypatch.setattr(socket, "create_connection", forbidden)


@pytest.mark.parametrize(
    "url",
    ["https://127.0.0.1/feed.xml", "https://169.254.169.254/latest/meta-data/", "https://[::1]/"],
)
def test_a_private_address_is_refused_before_connecting(no_network, newsletter, layout, url):
    with pytest.raises(ValidationError) as error:
        follow(newsletter, layout, [], url)
    assert "refused" in error.value.message_dict["url"][0]
    assert not Feed.objects.exists()


def test_a_name_that_resolves_to_a_private_address_is_refused(
    monkeypatch, no_network, newsletter, layout
):
    monkeypatch.setattr(network, "resolve", lambda host, port: ["10.0.0.7"])
    with pytest.raises(ValidationError, match="non-public address"):
        follow(newsletter, layout, [], "https://feeds.example.org/releases.xml")


def test_a_redirect_to_a_private_address_is_refused(feed_server, settings):
    settings.FEEDS_ALLOW_PRIVATE = False
    with pytest.raises(FeedError, match="refused"):
        fetch(f"{feed_server.url}/moved/releases.rss")
    assert feed_server.hits == []  # the first address was refused already


def test_a_redirect_is_followed_to_the_feed(feed_server):
    assert b"Demo releases" in fetch(f"{feed_server.url}/moved/releases.rss")


def test_plain_http_is_refused_unless_allowed(no_network, newsletter, layout):
    with pytest.raises(ValidationError, match="only https"):
        follow(newsletter, layout, [], "http://feeds.example.org/releases.xml")


def test_file_addresses_are_refused_unless_an_admin_names_a_folder(settings, newsletter, layout):
    settings.FEEDS_FILE_ROOT = ""
    with pytest.raises(ValidationError, match="File addresses are not allowed"):
        follow(newsletter, layout, [], "file:///etc/passwd")


def test_a_file_outside_the_allowed_folder_is_refused(settings, tmp_path, newsletter, layout):
    settings.FEEDS_FILE_ROOT = str(tmp_path)
    (tmp_path / "feed.xml").symlink_to("/etc/hostname")
    for url in (
        "file:///etc/passwd",
        f"file://{tmp_path}/../../etc/passwd",
        f"file://{tmp_path}/feed.xml",
    ):
        with pytest.raises(ValidationError, match="Only files inside"):
            follow(newsletter, layout, [], url)


def test_bad_templates_lists_and_sizes_are_named_by_field(feed_server, newsletter, layout):
    other = MailingListFactory(newsletter=NewsletterFactory())
    with pytest.raises(ValidationError) as error:
        follow(
            newsletter,
            layout,
            [other],
            f"{feed_server.url}/releases.rss",
            subject="{{ feed.colour }}",
            item_template="{{ item.body }}",
            max_items=0,
        )
    errors = error.value.message_dict
    assert set(errors) == {"subject", "item_template", "lists", "max_items"}
    assert "{{ feed.colour }}" in errors["subject"][0]
    assert "{{ item.body }}" in errors["item_template"][0]
    assert feed_server.hits == []  # nothing fetched for a feed that cannot be saved
    assert not Feed.objects.exists()


def test_an_item_template_that_does_not_render_is_refused(feed_server, newsletter, layout):
    with pytest.raises(ValidationError) as error:
        follow(
            newsletter,
            layout,
            [],
            f"{feed_server.url}/releases.rss",
            item_template="{{ item.title }} {{ subscriber.shoe_size }}",
        )
    assert "subscriber.shoe_size" in error.value.message_dict["item_template"][0]


def test_another_newsletters_layout_is_refused(feed_server, newsletter):
    with pytest.raises(ValidationError) as error:
        follow(newsletter, LayoutFactory(), [], f"{feed_server.url}/releases.rss")
    assert "layout" in error.value.message_dict


# Issues


def test_a_draft_issue_holds_every_new_item_newest_first_sanitised(
    feed_server, newsletter, layout, releases
):
    feed = follow(newsletter, layout, [releases], f"{feed_server.url}/releases.rss")
    now = later(feed)
    issue = services.feed_run(feed_id=feed.pk, now=now)
    assert issue.status == Status.DRAFT
    assert issue.subject == "Demo releases: Demo 1.2.0"
    assert list(issue.lists.all()) == [releases]
    assert issue.body.index("Demo 1.2.0") < issue.body.index("Demo 1.1.0")
    assert "(https://demo.example.org/releases/1.2.0)" in issue.body
    assert "Faster startup." in issue.body
    for unsafe in ("<script", 'alert("x")', "tracker.example", "{{ unsubscribe_url }}"):
        assert unsafe not in issue.body
    assert "\\[a link\\](javascript:alert(1))" in issue.body  # text, not a link
    assert FeedItem.objects.filter(feed=feed, campaign=issue).count() == 2
    feed.refresh_from_db()
    assert feed.last_error == ""
    assert feed.next_run_at == now + timedelta(days=1)


def test_an_atom_feed_makes_an_issue_with_its_authors(feed_server, newsletter, layout):
    feed = follow(
        newsletter,
        layout,
        [],
        f"{feed_server.url}/blog.atom",
        item_template="## {{ item.title }}\n\nBy {{ item.author }}, {{ item.date }}: "
        "{{ item.summary }}",
    )
    issue = services.feed_run(feed_id=feed.pk, now=later(feed))
    assert "By Ada, 2026-12-01: It was slow." in issue.body
    assert "By Grace, 2026-11-01: Our first post." in issue.body


def test_the_next_issue_holds_only_the_items_new_since_the_last(
    feed_server, newsletter, layout, releases
):
    feed = follow(newsletter, layout, [releases], f"{feed_server.url}/releases.rss")
    first = services.feed_run(feed_id=feed.pk, now=later(feed))
    feed_server.routes["/releases.rss"] = "releases-later.rss"
    feed.refresh_from_db()
    second = services.feed_run(feed_id=feed.pk, now=later(feed))
    assert second.pk != first.pk
    assert "Demo 1.3.0" in second.body
    assert "Demo 1.2.0" not in second.body
    assert second.subject == "Demo releases: Demo 1.3.0"


def test_an_empty_period_makes_nothing_and_waits_for_the_next(
    feed_server, newsletter, layout, releases
):
    feed = follow(newsletter, layout, [releases], f"{feed_server.url}/releases.rss")
    services.feed_run(feed_id=feed.pk, now=later(feed))
    feed.refresh_from_db()
    now = later(feed)
    assert services.feed_run(feed_id=feed.pk, now=now) is None
    assert Campaign.objects.count() == 1
    feed.refresh_from_db()
    assert feed.next_run_at == now + feed.interval
    assert feed.last_run_at == now


def test_only_the_newest_items_go_in_and_older_new_ones_are_skipped_for_good(
    feed_server, newsletter, layout
):
    feed = follow(newsletter, layout, [], f"{feed_server.url}/releases.rss", max_items=1)
    issue = services.feed_run(feed_id=feed.pk, now=later(feed))
    assert "Demo 1.2.0" in issue.body and "Demo 1.1.0" not in issue.body
    assert FeedItem.objects.get(title="Demo 1.1.0").campaign is None
    feed.refresh_from_db()
    assert services.feed_run(feed_id=feed.pk, now=later(feed)) is None


def test_a_retried_run_or_task_makes_the_issue_once(feed_server, newsletter, layout, releases):
    feed = follow(newsletter, layout, [releases], f"{feed_server.url}/releases.rss")
    now = later(feed)
    services.run_due_feeds(now=now)
    services.run_due_feeds(now=now)  # the same tick delivered twice
    run_due_feeds.apply()  # and the task, later, with nothing due
    services.feed_run(feed_id=feed.pk, force=True)  # "make it now", all items seen
    assert Campaign.objects.count() == 1
    assert FeedItem.objects.filter(feed=feed).count() == 2


def test_the_issue_and_its_seen_marks_commit_together(
    monkeypatch, feed_server, newsletter, layout, releases
):
    feed = follow(newsletter, layout, [releases], f"{feed_server.url}/releases.rss")

    def crash(*args, **kwargs):
        raise RuntimeError("worker died")

    monkeypatch.setattr(FeedItem.objects, "bulk_create", crash)
    with pytest.raises(RuntimeError):
        services.feed_run(feed_id=feed.pk, now=later(feed))
    assert not Campaign.objects.exists()
    monkeypatch.undo()
    feed.refresh_from_db()  # the claim's lease passes, and the next run makes the issue
    issue = services.feed_run(feed_id=feed.pk, now=feed.next_run_at)
    assert issue is not None and FeedItem.objects.filter(campaign=issue).count() == 2


def test_a_send_issue_starts_through_the_campaign_start(feed_server, newsletter, layout, releases):
    feed = follow(
        newsletter, layout, [releases], f"{feed_server.url}/releases.rss", action=FeedAction.SEND
    )
    issue = services.feed_run(feed_id=feed.pk, now=later(feed))
    issue.refresh_from_db()
    assert issue.status == Status.SENDING
    assert Delivery.objects.filter(campaign=issue).count() == 2
    services.feed_run(feed_id=feed.pk, force=True)
    assert Delivery.objects.count() == 2


def test_a_send_issue_that_cannot_start_stays_a_draft_and_the_feed_says_why(
    feed_server, newsletter, layout
):
    nobody = MailingListFactory(newsletter=newsletter, name="Nobody")
    feed = follow(
        newsletter, layout, [nobody], f"{feed_server.url}/releases.rss", action=FeedAction.SEND
    )
    issue = services.feed_run(feed_id=feed.pk, now=later(feed))
    issue.refresh_from_db()
    assert issue.status == Status.DRAFT
    feed.refresh_from_db()
    assert "kept as a draft" in feed.last_error and "Nobody would receive it" in feed.last_error
    assert FeedItem.objects.filter(campaign=issue).count() == 2


def test_a_feed_that_fails_later_says_why_and_marks_nothing(
    feed_server, newsletter, layout, releases
):
    feed = follow(newsletter, layout, [releases], f"{feed_server.url}/releases.rss")
    feed_server.routes["/releases.rss"] = "not-a-feed.html"
    now = later(feed)
    assert services.feed_run(feed_id=feed.pk, now=now) is None
    feed.refresh_from_db()
    assert "did not return an RSS or Atom feed" in feed.last_error
    assert feed.next_run_at == now + services.RETRY_AFTER
    assert not FeedItem.objects.exists()


def test_check_shows_the_next_issue_without_marking_anything(
    feed_server, newsletter, layout, releases
):
    feed = follow(newsletter, layout, [releases], f"{feed_server.url}/releases.rss")
    check = services.feed_check(feed=feed)
    assert [item.title for item in check.items] == ["Demo 1.2.0", "Demo 1.1.0"]
    assert check.subject == "Demo releases: Demo 1.2.0"
    assert "Faster startup." in check.html
    assert not FeedItem.objects.exists() and not Campaign.objects.exists()
    services.feed_run(feed_id=feed.pk, force=True)
    assert services.feed_check(feed=feed).items == []


def test_undated_items_keep_the_feeds_order_and_a_repeated_one_goes_in_once(
    feed_server, newsletter, layout
):
    feed = follow(newsletter, layout, [], f"{feed_server.url}/undated.rss")
    issue = services.feed_run(feed_id=feed.pk, now=later(feed))
    body = issue.body
    assert body.index("Third note") < body.index("Second note") < body.index("First note")
    assert "repeated" not in body
    assert FeedItem.objects.filter(feed=feed).count() == 3
