"""A maintainer's whole day in Chromium, with a real worker: from a CSV to a sent campaign.

Log in, create a list, import a CSV whose bad row is reported, compose in Markdown
with the live preview, send a test, send to the list after confirming what goes out
and watch the progress reach the end, then follow a reader's click into the report.
A viewer who tries to send is refused.
With ``CRIER_SCREENSHOTS=1`` the key pages are saved in docs/screenshots/ (the README
shows them).
"""

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from campaigns.models import Campaign
from delivery.models import Delivery, DeliveryStatus, OutboxMessage
from newsletter.models import Role
from tests.conftest import wait_for
from tests.factories import PASSWORD, MembershipFactory
from tracking.models import Link
from tracking.tasks import flush

pytestmark = [pytest.mark.browser, pytest.mark.integration]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
MEMBERS_CSV = (
    "email,name\n"
    "ada@example.org,Ada Lovelace\n"
    "grace@example,Grace Hopper\n"
    "linus@example.org,Linus Torvalds\n"
    "margaret@example.org,Margaret Hamilton\n"
)
BODY = (
    "# Kernel 7.0 is out\n\n"
    "Hello {{ subscriber.name }}, the release notes are "
    "[on the website](https://kernel.example.org/7.0).\n"
)

READER_BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def screenshot(page, name: str) -> None:
    """The whole page, through a window as tall as it: a full-page capture leaves the
    sandboxed preview frame blank."""
    if os.environ.get("CRIER_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        size = page.viewport_size
        height = page.evaluate("document.documentElement.scrollHeight")
        page.set_viewport_size({"width": size["width"], "height": height})
        page.wait_for_timeout(500)
        page.screenshot(path=SCREENSHOTS / f"{name}.png")
        page.set_viewport_size(size)


def log_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/dashboard/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_a_maintainer_goes_from_a_csv_to_a_sent_campaign(
    live_server, worker, page, settings, tmp_path
):
    settings.IMPORT_DIR = tmp_path / "imports"
    owner = MembershipFactory(
        role=Role.OWNER, user__username="maintainer", newsletter__name="Kernel News"
    )
    newsletter = owner.newsletter
    MembershipFactory(role=Role.VIEWER, newsletter=newsletter, user__username="watcher")
    base = f"{live_server.url}/dashboard/n/{newsletter.slug}"
    problems = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    members = tmp_path / "members.csv"
    members.write_text(MEMBERS_CSV)

    log_in(page, live_server.url, "maintainer")
    page.goto(f"{base}/")
    screenshot(page, "home")

    # A list, filled from a CSV whose second row is not an address.
    page.get_by_role("link", name="Lists").first.click()
    page.get_by_role("button", name="New list").click()
    page.get_by_label("Name").fill("Announcements")
    page.get_by_label("Slug").fill("announcements")
    page.get_by_label("Opt-in").select_option("single")
    page.get_by_role("button", name="Create list").click()
    page.get_by_role("link", name="Import into Announcements").click()
    page.get_by_label("CSV file").set_input_files(members)
    page.get_by_role("button", name="Upload and map columns").click()
    page.get_by_label("How did the people in this file consent?").fill(
        "Signed up at the 2026 kernel summit, consent forms on file"
    )
    page.get_by_role("button", name="Check (dry run)").click()
    bad = page.locator("#dry-run").get_by_role("row").filter(has_text="invalid email address")
    expect(bad.get_by_role("cell").first).to_have_text("3")
    page.get_by_role("button", name="Import", exact=True).click()
    page.locator("#import-status").filter(has_text="Done").wait_for(timeout=60_000)
    expect(page.locator('[data-count="created"]')).to_have_text("3")

    # Compose in Markdown; the preview follows the typing.
    page.get_by_role("link", name="Campaigns").first.click()
    page.get_by_role("button", name="New campaign").click()
    page.get_by_role("textbox", name="Name", exact=True).fill("Kernel 7.0")
    expect(page.get_by_role("textbox", name="Slug")).to_have_value("kernel-70")
    page.get_by_role("textbox", name="Subject", exact=True).fill("Kernel 7.0 is out")
    page.get_by_role("textbox", name="Body", exact=True).fill(BODY)
    preview = page.frame_locator("#live-preview iframe.mail-preview")
    expect(preview.get_by_text("Hello Ada Lovelace, the release notes are")).to_be_visible()
    screenshot(page, "compose")
    page.get_by_role("button", name="Save", exact=True).click()
    campaign = Campaign.objects.get(name="Kernel 7.0")

    # A test send reaches the outbox through the worker.
    page.get_by_label("Send a test to").fill("maintainer@example.org")
    page.get_by_role("button", name="Send test").click()
    wait_for(lambda: OutboxMessage.objects.filter(subject__startswith="[TEST]").exists())

    # Send to the list: the page says how many, then the progress runs to the end.
    page.get_by_role("button", name="Send…").click()
    page.get_by_label("Announcements").check()
    expect(page.locator("#recipients")).to_contain_text("3 people receive it")
    screenshot(page, "send")
    page.get_by_role("button", name="Send now…").click()
    # Nothing leaves before the maintainer confirms what they see.
    expect(page.locator("[data-fact=recipients]")).to_contain_text("3 people")
    expect(page.locator("[data-fact=lists]")).to_have_text("Announcements")
    assert not Delivery.objects.filter(campaign=campaign).exists()
    screenshot(page, "send-confirm")
    page.get_by_role("button", name="Send to 3 people now").click()
    expect(page.locator("[data-status]")).to_have_attribute("data-status", "sent", timeout=60_000)
    expect(page.locator("[data-status]")).to_contain_text("to 3 people.")
    expect(page.locator('[data-count="sent"]')).to_have_text("3")
    progress = page.locator("progress")
    assert progress.get_attribute("value") == progress.get_attribute("max") == "3"
    screenshot(page, "sending")
    sent = Delivery.objects.filter(campaign=campaign, status=DeliveryStatus.SENT)
    assert sorted(sent.values_list("subscriber__email", flat=True)) == [
        "ada@example.org",
        "linus@example.org",
        "margaret@example.org",
    ]

    # Ada clicks the link in her copy; beat's flush (run here by the worker) counts it.
    ada_copy = OutboxMessage.objects.get(recipients=["ada@example.org"], subject=campaign.subject)
    tracked = re.search(r'href="[^"]*(/t/c/[^"]+/)"', ada_copy.body("html")).group(1)
    click = page.request.get(
        f"{live_server.url}{tracked}", max_redirects=0, headers={"User-Agent": READER_BROWSER}
    )
    assert (click.status, click.headers["location"]) == (302, "https://kernel.example.org/7.0")
    flush.delay()
    wait_for(lambda: Link.objects.filter(campaign=campaign, clicks_human=1).exists())

    # The report: the numbers, the click map and the timeline chart.
    page.get_by_role("link", name=re.compile("Report")).first.click()
    expect(page.locator("[data-chart=timeline-data] canvas")).to_have_count(1)
    clicks = page.get_by_role("row").filter(has_text="https://kernel.example.org/7.0")
    expect(clicks).to_contain_text("1")
    screenshot(page, "campaign-report")
    assert problems == []

    # A viewer can watch, not send.
    page.context.clear_cookies()
    log_in(page, live_server.url, "watcher")
    response = page.goto(f"{base}/campaigns/{campaign.pk}/send/")
    assert response.status == 403
    page.goto(f"{base}/campaigns/{campaign.pk}/sending/")
    expect(page.locator('[data-count="sent"]')).to_have_text("3")
    assert page.get_by_role("button", name=re.compile("Pause|Cancel|Retry")).count() == 0
