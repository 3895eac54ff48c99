"""The sending backend page in Chromium, with a real worker: an owner picks SMTP (and sees
only its fields), tests the connection (no message) and then sends a test through it;
picking Amazon SES swaps in its own fields. Checked at 1280 and 375 px.

With CRIER_SCREENSHOTS=1 the page is saved to docs/screenshots/ at both widths.
"""

import pytest

from newsletter.models import Role
from tests.conftest import start_worker
from tests.dashboard.test_browser import screenshot
from tests.factories import PASSWORD, MembershipFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def local_relay_worker(tmp_path, redis_client, transactional_db, live_server, settings):
    """A worker that may reach an SMTP server on this machine (the test's sink)."""
    settings.SITE_URL = live_server.url
    settings.SENDING_ALLOW_PRIVATE_HOSTS = True
    process = start_worker(
        tmp_path / "worker.log", SITE_URL=live_server.url, CRIER_SENDING_ALLOW_PRIVATE_HOSTS="1"
    )
    yield process
    process.stop()


def no_sideways_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def visible_labels(page) -> set[str]:
    return set(
        page.evaluate(
            """[...document.querySelectorAll('#provider-fields label')]
                .filter(label => label.offsetWidth > 0).map(label => label.textContent.trim())"""
        )
    )


def test_an_owner_sets_up_smtp_tests_the_connection_and_sends_a_test(
    live_server, page, smtp_sink, local_relay_worker
):
    membership = MembershipFactory(role=Role.OWNER, user__username="owner")
    newsletter = membership.newsletter
    problems = []
    page.on(
        "console",
        lambda message: problems.append(message.text) if message.type == "error" else None,
    )
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/dashboard/login/")
    page.fill("input[name=username]", "owner")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/dashboard/n/{newsletter.slug}/")
    page.get_by_role("link", name="Settings").click()
    page.get_by_role("link", name="Sending backend").click()
    # smtp_sink made the instance's default the SMTP sink: the page names it.
    default = (
        f"goes through the instance's default backend: the SMTP server 127.0.0.1:{smtp_sink.port}"
    )
    assert page.get_by_text(default).is_visible()

    page.get_by_label("Service").select_option("amazon_ses")
    page.get_by_label("Region").wait_for()
    assert visible_labels(page) == {
        "Region",
        "Access key ID",
        "Secret access key",
        "API base URL",
    }
    page.get_by_label("Service").select_option("smtp")
    page.get_by_label("SMTP host").wait_for()
    assert visible_labels(page) == {
        "SMTP host",
        "SMTP port",
        "SMTP encryption",
        "SMTP user name",
        "SMTP password",
    }
    page.get_by_label("SMTP host").fill("127.0.0.1")
    page.get_by_label("SMTP port").fill(str(smtp_sink.port))
    page.get_by_label("SMTP encryption").select_option("none")
    page.get_by_role("button", name="Save sending backend").click()
    assert page.get_by_text("Sending backend saved.").is_visible()

    page.get_by_role("button", name="Test the connection").click()
    page.get_by_text("No message was sent.").wait_for(timeout=30_000)
    assert page.get_by_text("It works.").is_visible()
    assert smtp_sink.handler.received == []

    page.get_by_label("Send a test message to").fill("owner@example.org")
    page.get_by_role("button", name="Send a test message").click()
    page.get_by_text(f"went to the SMTP server 127.0.0.1:{smtp_sink.port}").wait_for(timeout=30_000)
    assert smtp_sink.handler.recipients() == ["owner@example.org"]
    assert b"Crier test message for" in smtp_sink.handler.received[0].data
    assert page.get_by_role("link", name="Open the Outbox").count() == 0
    screenshot(page, "sending-backend")
    page.set_viewport_size({"width": 375, "height": 812})
    assert no_sideways_scroll(page)
    assert page.get_by_role("button", name="Test the connection").is_visible()
    screenshot(page, "sending-backend-phone")
    assert problems == []
