"""Daily work in Chromium at 1280 and 375 px: schedule from the campaign list, see and
change "Send at" in the editor, unschedule, duplicate and delete; a campaign that could
not start; archive a list. Every control has a visible width and shows its value.

With ``CRIER_SCREENSHOTS=1`` the run also saves the screenshots in docs/screenshots/.
"""

import os
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from campaigns.models import Campaign, Status
from newsletter.models import Role
from tests.factories import (
    PASSWORD,
    CampaignFactory,
    MailingListFactory,
    MembershipFactory,
    SubscriptionFactory,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
WIDTHS = {"wide": {"width": 1280, "height": 900}, "phone": {"width": 375, "height": 740}}


def screenshot(page, name: str) -> None:
    if os.environ.get("CRIER_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def visible_with_width(locator) -> None:
    expect(locator).to_be_visible()
    assert locator.bounding_box()["width"] > 40


@pytest.mark.parametrize("width", list(WIDTHS))
def test_an_editor_schedules_edits_unschedules_duplicates_and_deletes(live_server, page, width):
    page.set_viewport_size(WIDTHS[width])
    membership = MembershipFactory(
        role=Role.EDITOR,
        user__username="editor",
        newsletter__name="Kernel News",
        newsletter__timezone="Europe/Paris",
    )
    newsletter = membership.newsletter
    news = MailingListFactory(newsletter=newsletter, name="News", slug="news")
    SubscriptionFactory(mailing_list=news)
    draft = CampaignFactory(newsletter=newsletter, name="June update", slug="june")
    draft.lists.set([news])
    CampaignFactory(
        newsletter=newsletter,
        name="May update",
        status=Status.FAILED,
        send_at=timezone.now() - timedelta(hours=1),
        failure_reason="Its lists are all archived: choose a list that is not.",
    )
    CampaignFactory(
        newsletter=newsletter, name="April update", status=Status.SENT, sent_at=timezone.now()
    )
    problems = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    base = f"{live_server.url}/dashboard/n/{newsletter.slug}"

    page.goto(f"{live_server.url}/dashboard/login/")
    page.fill("input[name=username]", "editor")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")

    # The campaign list: Send at for each, set in place.
    page.goto(f"{base}/campaigns/")
    when = (timezone.now().astimezone(ZoneInfo("Europe/Paris")) + timedelta(days=2)).replace(
        second=0, microsecond=0
    )
    typed = when.strftime("%Y-%m-%dT%H:%M")
    field = page.locator(f"#send-at-{draft.pk}")
    visible_with_width(field)
    field.fill(typed)
    page.locator(f"tr[data-campaign='{draft.pk}']").get_by_role("button", name="Schedule").click()
    expect(page.get_by_text("“June update” goes out")).to_be_visible()
    expect(page.locator(f"#send-at-{draft.pk}")).to_have_value(typed)
    row = page.locator(f"tr[data-campaign='{draft.pk}']")
    expect(row.locator("[data-status]")).to_have_text("Scheduled")
    visible_with_width(row.get_by_role("button", name="Unschedule"))
    expect(page.get_by_text("Its lists are all archived")).to_be_visible()
    screenshot(page, f"campaigns-schedule-{width}")

    # The editor shows the time, and keeps it on save.
    page.goto(f"{base}/campaigns/{draft.pk}/edit/")
    send_at = page.get_by_label("Send at")
    visible_with_width(send_at)
    expect(send_at).to_have_value(typed)
    expect(page.locator("#schedule-state")).to_contain_text("Scheduled for")
    expect(page.get_by_role("checkbox", name="News")).to_be_checked()
    page.fill("input[name=subject]", "June update: all the news")
    screenshot(page, f"campaign-edit-scheduled-{width}")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("[data-schedule]")).to_contain_text("(Europe/Paris)")
    assert Campaign.objects.get(pk=draft.pk).status == Status.SCHEDULED
    screenshot(page, f"campaign-scheduled-{width}")

    # Unschedule, duplicate, then delete the copy.
    page.get_by_role("button", name="Unschedule").click()
    expect(page.get_by_text("is no longer scheduled: it is a draft")).to_be_visible()
    page.get_by_role("button", name="Duplicate").click()
    expect(page.get_by_role("heading", name="Edit “June update (copy)”")).to_be_visible()
    copy = Campaign.objects.get(name="June update (copy)")
    page.goto(f"{base}/campaigns/{copy.pk}/")
    page.get_by_role("link", name="Delete").click()
    screenshot(page, f"campaign-delete-{width}")
    page.get_by_role("button", name="Delete it").click()
    expect(page.get_by_text("“June update (copy)” deleted.")).to_be_visible()
    assert not Campaign.objects.filter(pk=copy.pk).exists()

    # A campaign that could not start says why, on its page.
    failed = Campaign.objects.get(name="May update")
    page.goto(f"{base}/campaigns/{failed.pk}/")
    expect(page.locator("[data-failure]")).to_contain_text("Its lists are all archived")
    screenshot(page, f"campaign-failed-{width}")
    assert problems == []


@pytest.mark.parametrize("width", list(WIDTHS))
def test_an_editor_archives_a_list_and_sees_why_it_cannot_be_deleted(live_server, page, width):
    page.set_viewport_size(WIDTHS[width])
    membership = MembershipFactory(role=Role.EDITOR, user__username="lister")
    newsletter = membership.newsletter
    old = MailingListFactory(newsletter=newsletter, name="Old announcements", slug="old")
    MailingListFactory(newsletter=newsletter, name="Releases", slug="releases")
    SubscriptionFactory(mailing_list=old)
    base = f"{live_server.url}/dashboard/n/{newsletter.slug}"

    page.goto(f"{live_server.url}/dashboard/login/")
    page.fill("input[name=username]", "lister")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{base}/lists/")
    page.get_by_role("button", name="Archive Old announcements").click()
    expect(page.get_by_text("List “Old announcements” archived")).to_be_visible()
    archived = page.locator("tr[data-list='old'][data-archived]")
    visible_with_width(archived.get_by_role("button", name="Unarchive Old announcements"))
    screenshot(page, f"lists-archived-{width}")

    archived.get_by_role("link", name="Delete Old announcements").click()
    expect(page.locator("[data-blockers]")).to_contain_text("people are subscribed to it")
    screenshot(page, f"list-delete-refused-{width}")
    page.goto(f"{live_server.url}/n/{newsletter.slug}/")
    expect(page.get_by_label("Releases")).to_be_visible()
    assert page.get_by_text("Old announcements").count() == 0


@pytest.mark.parametrize("width", list(WIDTHS))
def test_a_reader_opens_their_copy_of_a_campaign_that_is_not_public(
    live_server, page, settings, width
):
    from delivery import lifecycle, sending
    from delivery.models import OutboxMessage
    from subscribers import services as subscribers
    from subscribers.models import ConsentSource

    settings.SITE_URL = live_server.url
    page.set_viewport_size(WIDTHS[width])
    membership = MembershipFactory(role=Role.EDITOR, newsletter__name="Kernel News")
    newsletter = membership.newsletter
    news = MailingListFactory(newsletter=newsletter, name="News", slug="news")
    subscribers.subscribe(
        newsletter=newsletter,
        email="ada@example.org",
        name="Ada",
        lists=[news],
        source=ConsentSource.DASHBOARD,
        wording="x",
        attestation="test",
    )
    campaign = CampaignFactory(newsletter=newsletter, public=False)
    campaign.lists.set([news])
    lifecycle.campaign_start(campaign=campaign)
    sending.send_batches(campaign_id=campaign.pk)

    page.set_content(OutboxMessage.objects.get().body("html"))
    with page.expect_navigation():
        page.get_by_role("link", name="View in your browser").click()
    expect(page.get_by_text("Hello Ada,")).to_be_visible()
    expect(page.get_by_text("Your copy of this message")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, f"reader-copy-{width}")
    page.get_by_role("link", name="Unsubscribe").click()
    expect(page.get_by_role("button", name="Unsubscribe")).to_be_visible()
