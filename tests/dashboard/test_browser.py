"""The dashboard in Chromium: an owner runs the newsletter; a viewer cannot reach settings.

With CRIER_SCREENSHOTS=1 the newsletter home and the settings page are saved to
docs/screenshots/ (phone width for the home, as people check it on the go).
"""

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from api.services import authenticate
from campaigns.models import Status
from delivery.models import Delivery, DeliveryStatus
from newsletter.models import Role
from subscribers import ledger
from subscribers.models import ConsentAction, ConsentEvent, ConsentSource
from tests.factories import (
    PASSWORD,
    CampaignFactory,
    MailingListFactory,
    MembershipFactory,
    SubscriberFactory,
    SubscriptionFactory,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def screenshot(page, name: str) -> None:
    if os.environ.get("CRIER_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def log_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/dashboard/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/dashboard/")


def some_history(newsletter) -> None:
    """A sent and a scheduled campaign, two lists and a month of sign-ups."""
    sent = CampaignFactory(
        newsletter=newsletter, name="Release 2.0", status=Status.SENT, recipient_count=12
    )
    Delivery.objects.bulk_create(
        Delivery(campaign=sent, subscriber=subscriber, status=DeliveryStatus.SENT)
        for subscriber in SubscriberFactory.create_batch(12, newsletter=newsletter)
    )
    CampaignFactory(
        newsletter=newsletter,
        name="Release 2.1",
        status=Status.SCHEDULED,
        send_at=timezone.now() + timedelta(days=3),
    )
    for name, size in (("Announcements", 9), ("Releases", 4)):
        SubscriptionFactory.create_batch(
            size, mailing_list=MailingListFactory(newsletter=newsletter, name=name)
        )
    now = timezone.now()
    for day in range(0, 30, 2):
        for index in range(day % 5 + 1):
            action = ConsentAction.UNSUBSCRIBED if index == 3 else ConsentAction.CONFIRMED
            event = ledger.append(
                subscriber=SubscriberFactory(newsletter=newsletter),
                action=action,
                source=ConsentSource.FORM,
            )
            ConsentEvent.objects.filter(pk=event.pk).update(created_at=now - timedelta(days=day))


def test_owner_changes_tracking_invites_a_member_and_creates_a_token(live_server, page):
    owner = MembershipFactory(
        role=Role.OWNER, user__username="olga", newsletter__name="Project News"
    )
    newsletter = owner.newsletter
    some_history(newsletter)
    errors = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    page.on("pageerror", lambda error: errors.append(str(error)))

    log_in(page, live_server, "olga")
    page.get_by_role("link", name="Project News").click()
    assert page.locator("[data-chart] canvas").count() == 1  # drawn from the JSON, no inline script
    screenshot(page, "newsletter-home")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "newsletter-home-phone")
    page.set_viewport_size({"width": 1280, "height": 800})

    page.get_by_role("link", name="Settings").click()
    page.get_by_label("Off: no pixel, links untouched").check()
    screenshot(page, "newsletter-settings")
    page.get_by_role("button", name="Save settings").click()
    assert page.get_by_text("Settings saved.").is_visible()
    newsletter.refresh_from_db()
    assert newsletter.tracking_policy == "off"

    page.get_by_role("link", name="Members").click()
    page.get_by_label("Email address").fill("bob@example.org")
    page.get_by_label("Role", exact=True).select_option("editor")
    page.get_by_role("button", name="Send the invitation").click()
    assert page.get_by_text("Invitation sent to bob@example.org.").is_visible()
    assert page.get_by_role("rowheader", name="bob@example.org").is_visible()
    assert newsletter.invitations.get().role == "editor"

    page.get_by_role("link", name="API tokens").click()
    page.get_by_label("Name").fill("release script")
    page.get_by_role("button", name="Create token").click()
    raw = page.get_by_label("Token", exact=True).input_value()
    assert raw.startswith("crier_")
    assert page.get_by_text("shown only this once").is_visible()
    assert authenticate(raw) is not None
    page.get_by_role("link", name="API tokens").click()
    assert raw not in page.content()
    assert page.get_by_role("rowheader", name="release script").is_visible()
    assert errors == []


def test_a_viewer_cannot_see_settings(live_server, page):
    viewer = MembershipFactory(role=Role.VIEWER, user__username="vera")
    slug = viewer.newsletter.slug
    log_in(page, live_server, "vera")
    page.goto(f"{live_server.url}/dashboard/n/{slug}/")
    assert page.get_by_role("link", name="Settings").count() == 0
    response = page.goto(f"{live_server.url}/dashboard/n/{slug}/settings/")
    assert response.status == 403
