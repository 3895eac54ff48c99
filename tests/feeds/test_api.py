"""``/api/v1/feeds/``: the same services as the dashboard, errors by field, tenant-scoped."""

import pytest

from campaigns.models import Campaign
from feeds.models import Feed
from newsletter.models import Role
from tests.api.conftest import make_api

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(newsletter, layout, redis_client):
    return make_api(newsletter)


def test_a_feed_followed_through_the_api_makes_its_issue_on_demand(
    api, feed_server, newsletter, releases
):
    response = api.post(
        "/api/v1/feeds/",
        {
            "name": "Releases",
            "url": f"{feed_server.url}/releases.rss",
            "lists": ["releases"],
            "template": "Release notes",
        },
    )
    assert response.status_code == 201, response.content
    feed = response.json()
    assert feed["title"] == "Demo releases"
    assert feed["lists"] == ["releases"] and feed["action"] == "draft"

    check = api.post(f"/api/v1/feeds/{feed['id']}/check/").json()
    assert [item["title"] for item in check["items"]] == ["Demo 1.2.0", "Demo 1.1.0"]

    run = api.post(f"/api/v1/feeds/{feed['id']}/run/").json()
    assert Campaign.objects.get(pk=run["campaign"]).subject == "Demo releases: Demo 1.2.0"
    again = api.post(f"/api/v1/feeds/{feed['id']}/run/").json()
    assert again == {"campaign": None, "detail": "Nothing new since the last issue."}


def test_a_page_that_is_not_a_feed_is_a_422_on_url_and_nothing_is_saved(api, feed_server):
    response = api.post(
        "/api/v1/feeds/", {"name": "Blog", "url": f"{feed_server.url}/not-a-feed.html"}
    )
    assert response.status_code == 422
    assert "did not return an RSS or Atom feed" in response.json()["errors"]["url"][0]
    assert not Feed.objects.exists()


def test_unknown_lists_layouts_and_tags_are_named(api, feed_server):
    response = api.post(
        "/api/v1/feeds/",
        {"name": "Blog", "url": f"{feed_server.url}/blog.atom", "lists": ["nope"]},
    )
    assert response.json()["errors"] == {"lists": ["No such list in this newsletter: nope."]}
    response = api.post(
        "/api/v1/feeds/",
        {"name": "Blog", "url": f"{feed_server.url}/blog.atom", "template": "Nope"},
    )
    assert "template" in response.json()["errors"]
    response = api.post(
        "/api/v1/feeds/",
        {"name": "Blog", "url": f"{feed_server.url}/blog.atom", "item_template": "{{ item.x }}"},
    )
    assert "{{ item.x }}" in response.json()["errors"]["item_template"][0]
    response = api.post(
        "/api/v1/feeds/",
        {"name": "Blog", "url": f"{feed_server.url}/blog.atom", "max_items": 500},
    )
    assert "max_items" in response.json()["errors"]
    assert not Feed.objects.exists()


def test_a_patch_changes_what_it_names_and_is_checked_again(api, feed_server, settings):
    settings.FEEDS_MAX_BYTES = 64 * 1024
    created = api.post("/api/v1/feeds/", {"name": "Blog", "url": f"{feed_server.url}/blog.atom"})
    feed_id = created.json()["id"]
    response = api.patch(f"/api/v1/feeds/{feed_id}/", {"action": "send", "max_items": 3})
    assert response.json()["action"] == "send" and response.json()["max_items"] == 3
    bad = api.patch(f"/api/v1/feeds/{feed_id}/", {"url": f"{feed_server.url}/large.rss"})
    assert bad.status_code == 422
    assert Feed.objects.get().url.endswith("/blog.atom")


def test_viewers_read_and_cannot_change(newsletter, layout, feed_server, redis_client):
    viewer = make_api(newsletter, role=Role.VIEWER, username="reader")
    assert viewer.get("/api/v1/feeds/").json() == []
    response = viewer.post("/api/v1/feeds/", {"name": "Blog", "url": f"{feed_server.url}/x"})
    assert response.status_code == 403


def test_the_feeds_are_in_the_openapi_schema(api):
    paths = api.get("/api/v1/openapi.json").json()["paths"]
    assert {"/api/v1/feeds/", "/api/v1/feeds/{feed_id}/", "/api/v1/feeds/{feed_id}/check/"} <= set(
        paths
    )
