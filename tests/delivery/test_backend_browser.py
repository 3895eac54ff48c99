"""The sending backend page in Chromium, with a real worker sending the test over SMTP."""

import pytest

from newsletter.models import Role
from tests.factories import PASSWORD, MembershipFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_owner_sets_up_smtp_and_sends_a_test_through_it(live_server, page, smtp_sink, worker):
    membership = MembershipFactory(role=Role.OWNER, user__username="owner")
    newsletter = membership.newsletter
    problems = []
    page.on(
        "console",
        lambda message: problems.append(message.text) if message.type == "error" else None,
    )
    page.goto(f"{live_server.url}/dashboard/login/")
    page.fill("input[name=username]", "owner")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/dashboard/n/{newsletter.slug}/")
    page.get_by_role("link", name="Settings").click()
    page.get_by_role("link", name="Sending backend").click()

    page.get_by_label("Service").select_option("smtp")
    page.get_by_label("SMTP host").fill("127.0.0.1")
    page.get_by_label("SMTP port").fill(str(smtp_sink.port))
    page.get_by_label("SMTP encryption").select_option("none")
    page.get_by_role("button", name="Save sending backend").click()
    assert page.get_by_text("Sending backend saved.").is_visible()

    page.get_by_label("Send a test through it to").fill("owner@example.org")
    page.get_by_role("button", name="Send a test through it").click()
    page.get_by_text("Test sent.").wait_for(timeout=30_000)
    assert smtp_sink.handler.recipients() == ["owner@example.org"]
    assert b"Crier test message for" in smtp_sink.handler.received[0].data
    assert problems == []
