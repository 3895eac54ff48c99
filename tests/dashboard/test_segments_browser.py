"""Chromium, at 1280 and 375 px: an editor builds a segment with the builder (the count
follows each change), saves it, sends a campaign to it, and the confirmation names it;
exactly the people it counted get the mail."""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from delivery.models import Delivery
from newsletter.models import Role
from tests.factories import (
    CampaignFactory,
    FieldDefinitionFactory,
    MailingListFactory,
    MembershipFactory,
    SubscriptionFactory,
)

from .test_browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
WIDTHS = {"wide": {"width": 1280, "height": 900}, "phone": {"width": 375, "height": 800}}
SHOTS = Path(os.environ.get("CRIER_SEGMENT_SHOTS", "/tmp"))


def settled(page) -> None:
    """htmx has swapped, settled and bound the new form's triggers."""
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"
    )
    page.wait_for_timeout(100)


@pytest.mark.parametrize("width", list(WIDTHS))
def test_an_editor_builds_a_segment_and_sends_to_it(live_server, page, width):
    page.set_viewport_size(WIDTHS[width])
    membership = MembershipFactory(role=Role.EDITOR, user__username="editor")
    newsletter = membership.newsletter
    FieldDefinitionFactory(
        newsletter=newsletter, key="sdk", label="SDK", type="choice", choices=["python", "rust"]
    )
    releases = MailingListFactory(newsletter=newsletter, name="Releases", slug="releases")
    for n, sdk in enumerate(["python", "python", "rust"]):
        SubscriptionFactory(
            mailing_list=releases,
            subscriber__email=f"reader{n}@example.org",
            subscriber__attributes={"sdk": sdk},
        )
    campaign = CampaignFactory(newsletter=newsletter, name="Python SDK 3.0")
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, live_server, "editor")
    base = f"{live_server.url}/dashboard/n/{newsletter.slug}"

    page.goto(f"{base}/segments/")
    page.get_by_role("button", name="New segment").click()
    page.get_by_label("Name").fill("Python users")
    page.get_by_role("button", name="Add a condition").click()
    condition = page.locator("[data-condition='0']")
    # Each change re-renders the form (htmx): let it settle before the next one.
    expect(condition.get_by_label("Operator")).to_have_value("member", timeout=15_000)
    settled(page)
    condition.get_by_label("Field").select_option("sdk")
    expect(condition.get_by_label("Operator")).to_have_value("eq", timeout=15_000)
    settled(page)
    condition.get_by_label("Value").select_option("python")
    expect(page.locator("[data-matching]")).to_have_attribute("data-matching", "2", timeout=15_000)
    expect(page.locator("#segment-preview")).to_contain_text("2 people match.")
    expect(page.locator("#segment-preview")).to_contain_text("reader0@example.org")
    for control in condition.locator("select").all():
        assert control.bounding_box()["width"] > 60
    page.screenshot(path=SHOTS / f"segment-builder-{width}.png", full_page=True)
    page.get_by_role("button", name="Create segment").click()
    expect(page.locator("body")).to_contain_text("Segment saved.")

    page.goto(f"{base}/campaigns/{campaign.pk}/send/")
    page.get_by_label("Only the people of a segment").select_option(label="Python users")
    expect(page.locator("[data-recipients]")).to_have_attribute("data-recipients", "2")
    page.get_by_role("button", name="Send now…").click()
    expect(page.locator("[data-fact='segment']")).to_contain_text("Python users")
    page.screenshot(path=SHOTS / f"segment-send-confirm-{width}.png", full_page=True)
    page.get_by_role("button", name="Send to 2 people now").click()
    page.wait_for_url(f"{base}/campaigns/{campaign.pk}/sending/")
    sent_to = set(
        Delivery.objects.filter(campaign=campaign).values_list("subscriber__email", flat=True)
    )
    assert sent_to == {"reader0@example.org", "reader1@example.org"}
    assert not errors
