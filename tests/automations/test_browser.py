"""An editor builds a welcome series in Chromium, starts it, and reads its steps on a
phone; a newcomer who confirms then receives its first email.

With CRIER_SCREENSHOTS=1 the pages are saved to docs/screenshots/.
"""

import pytest
from playwright.sync_api import expect

from automations import services
from automations.models import Automation, AutomationStatus, StepKind
from delivery import sending
from delivery.models import OutboxMessage
from newsletter.models import Role
from tests.dashboard.test_browser import screenshot
from tests.factories import PASSWORD, LayoutFactory, MembershipFactory

from .conftest import confirmed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 375, "height": 800}


def log_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/dashboard/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/dashboard/")


def fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_an_editor_builds_a_welcome_series_that_newcomers_receive(
    live_server, page, newsletter, newcomers
):
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    LayoutFactory(newsletter=newsletter, name="Plain")
    editor = MembershipFactory(newsletter=newsletter, role=Role.EDITOR).user
    base = live_server.url
    log_in(page, base, editor.username)
    page.goto(f"{base}/dashboard/n/{newsletter.slug}/automations/")
    page.get_by_role("button", name="New automation").click()
    page.get_by_label("Name").fill("Welcome")
    page.get_by_label("Newcomers").check()
    page.get_by_role("button", name="Create automation").click()
    expect(page.get_by_role("heading", name="Welcome")).to_be_visible()

    page.get_by_role("button", name="Send an email").click()
    page.get_by_label("Subject").fill("Welcome aboard")
    page.get_by_label("Body").fill("Hello {{ subscriber.name }}, welcome!")
    screenshot(page, "automation-step")
    page.get_by_role("button", name="Add step").click()
    page.get_by_role("button", name="Wait for a while").click()
    page.get_by_label("Days").fill("2")
    page.get_by_role("button", name="Add step").click()
    page.get_by_role("button", name="Send an email").click()
    page.get_by_label("Subject").fill("How to contribute")
    page.get_by_label("Body").fill("Here is how.")
    page.get_by_role("button", name="Add step").click()
    page.get_by_role("button", name="Start").click()
    expect(page.get_by_text("Automation started.")).to_be_visible()
    steps = page.locator("ol.steps > li")
    expect(steps).to_have_count(3)
    expect(steps.nth(1)).to_contain_text("2 days")
    screenshot(page, "automation")

    automation = Automation.objects.get()
    assert automation.status == AutomationStatus.ACTIVE
    assert [step.kind for step in automation.steps.all()] == [
        StepKind.SEND,
        StepKind.WAIT,
        StepKind.SEND,
    ]
    confirmed(newsletter, [newcomers], "ada@example.org")
    services.enrolments_advance()
    sending.send_batches(campaign_id=automation.steps.get(position=1).campaign_id)
    assert OutboxMessage.objects.get().subject == "Welcome aboard"

    page.set_viewport_size(PHONE)
    page.reload()
    expect(steps.nth(0)).to_contain_text("1 sent, 0 queued")
    expect(steps.nth(1)).to_contain_text("1 person waiting")
    assert fits(page)
    screenshot(page, "automation-phone")
    page.goto(f"{base}/dashboard/n/{newsletter.slug}/automations/")
    assert fits(page)
    assert errors == []
