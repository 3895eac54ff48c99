"""Following a feed in Chromium: an editor fills the form (a web page first, then the
feed), checks what the next issue would hold, drafts it, and finds it among the
campaigns; the feed page fits a phone. ``CRIER_SCREENSHOTS=1`` saves the pages to
docs/screenshots/ like the other browser tests."""

import pytest
from playwright.sync_api import expect

from campaigns.models import Campaign
from feeds.models import Feed
from newsletter.models import Role
from tests.dashboard.test_browser import log_in, screenshot
from tests.factories import MembershipFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_editor_follows_a_feed_checks_it_and_drafts_its_issue(
    live_server, page, settings, feed_server, newsletter, layout, releases
):
    settings.SITE_URL = live_server.url
    MembershipFactory(newsletter=newsletter, role=Role.EDITOR, user__username="olga")
    page.set_viewport_size({"width": 1280, "height": 900})
    log_in(page, live_server, "olga")
    page.goto(f"{live_server.url}/dashboard/n/{newsletter.slug}/feeds/")
    page.get_by_role("button", name="Follow a feed").click()

    page.get_by_label("Name").fill("Releases")
    page.get_by_label("Feed address").fill(f"{feed_server.url}/not-a-feed.html")
    page.get_by_label("Releases").check()
    page.get_by_role("button", name="Follow this feed").click()
    expect(page.get_by_text("did not return an RSS or Atom feed")).to_be_visible()
    assert not Feed.objects.exists()

    page.get_by_label("Feed address").fill(f"{feed_server.url}/releases.rss")
    page.get_by_role("button", name="Follow this feed").click()
    expect(page.get_by_role("heading", name="Releases", level=1)).to_be_visible()

    page.get_by_role("button", name="Check now").click()
    expect(page.get_by_text("It would hold 2 new items")).to_be_visible()
    expect(page.get_by_role("link", name="Demo 1.2.0")).to_be_visible()
    preview = page.frame_locator("iframe.mail-preview")
    expect(preview.get_by_text("Faster startup.")).to_be_visible()
    screenshot(page, "feed-check")

    page.set_viewport_size({"width": 375, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.get_by_role("button", name="Draft the next issue now").click()
    issue = Campaign.objects.get()
    page.wait_for_url(f"**{issue.get_absolute_url()}")
    expect(page.get_by_label("Subject")).to_have_value("Demo releases: Demo 1.2.0")
