"""The feed pages, as an editor and a viewer use them."""

import pytest
from django.urls import reverse

from campaigns.models import Campaign
from feeds.models import Feed
from newsletter.models import Role
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def url(name: str, newsletter, *args) -> str:
    return reverse(f"dashboard:{name}", args=[newsletter.slug, *args])


def form_data(layout, releases, address: str, **changes) -> dict:
    return {
        "name": "Releases",
        "url": address,
        "layout": layout.pk,
        "action": "draft",
        "schedule": "weekly",
        "subject": "{{ feed.title }}: {{ items.count }} new",
        "intro": "",
        "item_template": "## [{{ item.title }}]({{ item.url }})",
        "max_items": 10,
        "public": "on",
        "active": "on",
        "lists": [releases.pk],
        **changes,
    }


@pytest.fixture
def editor(client, newsletter):
    client.force_login(MembershipFactory(newsletter=newsletter, role=Role.EDITOR).user)
    return client


def test_a_page_that_is_not_a_feed_is_named_on_the_form_and_nothing_is_saved(
    editor, feed_server, newsletter, layout, releases
):
    response = editor.post(
        url("feed_create", newsletter),
        form_data(layout, releases, f"{feed_server.url}/not-a-feed.html"),
    )
    assert response.status_code == 422
    assert "did not return an RSS or Atom feed" in response.content.decode()
    assert not Feed.objects.exists()


def test_follow_check_and_draft_the_next_issue(editor, feed_server, newsletter, layout, releases):
    response = editor.post(
        url("feed_create", newsletter), form_data(layout, releases, f"{feed_server.url}/blog.atom")
    )
    feed = Feed.objects.get()
    assert response.url == url("feed_detail", newsletter, feed.pk)
    assert feed.schedule == "weekly" and list(feed.lists.all()) == [releases]

    page = editor.post(url("feed_check", newsletter, feed.pk)).content.decode()
    assert "It would hold 2 new items" in page
    assert "Why we rewrote the plugin loader" in page
    assert "Demo blog: 2 new" in page
    assert "feeds/preview/" in page  # the sandboxed iframe's address

    response = editor.post(url("feed_run", newsletter, feed.pk))
    issue = Campaign.objects.get()
    assert response.url == issue.get_absolute_url()
    detail = editor.get(url("feed_detail", newsletter, feed.pk)).content.decode()
    assert issue.name in detail

    editor.post(url("feed_run", newsletter, feed.pk))
    assert Campaign.objects.count() == 1


def test_a_viewer_reads_the_feeds_but_is_offered_no_change(
    client, feed_server, newsletter, layout, releases
):
    Feed.objects.create(
        newsletter=newsletter,
        name="Releases",
        url=f"{feed_server.url}/releases.rss",
        layout=layout,
        next_run_at="2030-01-01T00:00Z",
    )
    client.force_login(MembershipFactory(newsletter=newsletter, role=Role.VIEWER).user)
    page = client.get(url("feed_list", newsletter)).content.decode()
    assert "Releases" in page and "Follow a feed" not in page
    assert client.post(url("feed_create", newsletter), {}).status_code == 403


def test_sending_an_issue_from_the_page_is_confirmed_first(
    editor, feed_server, newsletter, layout, releases
):
    editor.post(
        url("feed_create", newsletter),
        form_data(layout, releases, f"{feed_server.url}/releases.rss", action="send"),
    )
    feed = Feed.objects.get()
    page = editor.post(url("feed_run", newsletter, feed.pk)).content.decode()
    assert "Send the next issue of “Releases” now?" in page and "<strong>Releases</strong>" in page
    assert not Campaign.objects.exists()
    editor.post(url("feed_run", newsletter, feed.pk), {"confirm": "yes"})
    assert Campaign.objects.get().status == "sending"
