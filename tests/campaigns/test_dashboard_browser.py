"""The campaign pages in Chromium: the preview loads in its sandbox, the page obeys its CSP."""

import pytest
from playwright.sync_api import expect

from newsletter.models import Role
from tests.factories import PASSWORD, CampaignFactory, MembershipFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_editor_previews_a_campaign_at_both_widths(live_server, page):
    membership = MembershipFactory(role=Role.EDITOR, user__username="editor")
    campaign = CampaignFactory(newsletter=membership.newsletter)
    problems = []
    page.on(
        "console",
        lambda message: problems.append(message.text) if message.type == "error" else None,
    )

    page.goto(f"{live_server.url}/dashboard/login/")
    page.fill("input[name=username]", "editor")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(
        f"{live_server.url}/dashboard/n/{campaign.newsletter.slug}/campaigns/{campaign.pk}/"
        "?name=Grace"
    )
    frame = page.frame_locator("iframe.mail-preview")
    assert frame.get_by_text("Hello Grace,").is_visible()

    page.get_by_role("link", name="Mobile (375 px)").click()
    iframe = page.locator("iframe.mail-preview-mobile")
    assert iframe.bounding_box()["width"] <= 376
    assert page.frame_locator("iframe.mail-preview").get_by_text("Hello Grace,").is_visible()

    page.get_by_role("link", name="Text part").click()
    assert "Hello Grace," in page.locator("pre.mail-text").inner_text()
    assert problems == []


def test_the_compose_preview_follows_what_the_editor_types(live_server, page):
    membership = MembershipFactory(role=Role.EDITOR, user__username="composer")
    campaign = CampaignFactory(newsletter=membership.newsletter)
    problems = []
    page.on(
        "console",
        lambda message: problems.append(message.text) if message.type == "error" else None,
    )
    page.goto(f"{live_server.url}/dashboard/login/")
    page.fill("input[name=username]", "composer")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(
        f"{live_server.url}/dashboard/n/{campaign.newsletter.slug}/campaigns/{campaign.pk}/edit/"
    )
    preview = page.frame_locator("#live-preview iframe.mail-preview")
    expect(preview.get_by_text("Hello Ada Lovelace,")).to_be_visible()

    page.fill("textarea[name=body]", "# Release day\n\nVersion 3 is out, {{ subscriber.name }}!")
    expect(preview.get_by_text("Version 3 is out, Ada Lovelace!")).to_be_visible()

    page.fill("textarea[name=body]", "Broken {{ subscriber.nickname }} tag")
    alert = page.locator("#live-preview [role=alert]")
    expect(alert).to_contain_text("line 1")
    expect(alert).to_contain_text("subscriber.nickname")
    assert problems == []
