"""The webhooks page in Chromium, at a phone's width: add an endpoint, copy its
secret, send a test event and see it in the deliveries."""

import pytest

from newsletter.models import Role
from tests.factories import PASSWORD, MembershipFactory
from webhooks import tasks

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_owner_adds_an_endpoint_and_sends_a_test_event(live_server, page, monkeypatch):
    monkeypatch.setattr(tasks.deliver, "delay", lambda pk: None)  # no worker here
    membership = MembershipFactory(role=Role.OWNER, user__username="owner")
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.set_viewport_size({"width": 375, "height": 800})

    page.goto(f"{live_server.url}/dashboard/login/")
    page.fill("input[name=username]", "owner")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/dashboard/n/{membership.newsletter.slug}/")
    page.get_by_role("link", name="Settings").click()
    page.get_by_role("link", name="Webhooks").click()

    page.get_by_label("Endpoint URL").fill("https://hooks.example.org/crier")
    page.get_by_label("Confirmed a subscription").check()
    page.get_by_role("button", name="Add endpoint").click()

    secret = page.get_by_label("Signing secret").input_value()
    assert secret.startswith("whsec_")
    page.get_by_role("button", name="Send a test event").click()
    assert page.get_by_text("A test event is on its way").is_visible()
    assert page.locator("td code", has_text="ping").is_visible()
    assert secret not in page.content()
    assert problems == []
