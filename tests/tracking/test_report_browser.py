"""The campaign report in Chromium: the timeline is drawn from the page's JSON under
the strict CSP, and its figures are one click away for those who cannot see it.

With CRIER_SCREENSHOTS=1 the report is saved as docs/screenshots/report.png.
"""

import pytest

from newsletter.models import Role
from tests.dashboard.test_browser import log_in, screenshot
from tests.factories import MembershipFactory

from .conftest import sent_campaign

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_viewer_opens_the_report_of_a_sent_campaign_from_the_list(live_server, page):
    campaign, _ = sent_campaign("individual")
    MembershipFactory(newsletter=campaign.newsletter, role=Role.VIEWER, user__username="vera")
    errors = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    page.on("pageerror", lambda error: errors.append(str(error)))

    log_in(page, live_server, "vera")
    page.goto(f"{live_server.url}/dashboard/n/{campaign.newsletter.slug}/campaigns/")
    page.get_by_role("link", name="Report of Release 2.0").click()
    page.wait_for_selector("[data-chart=timeline-data] canvas")
    assert page.locator("[data-chart=timeline-data] canvas").count() == 1
    assert page.locator("[data-chart=timeline-data]").get_attribute("data-chart-ready") == "true"
    legend = page.locator("[data-chart=timeline-data] .u-legend").inner_text()
    assert "Opens by people" in legend and "Clicks by machines" in legend

    page.get_by_text("Figures per period").click()
    assert page.get_by_role("cell", name="24", exact=True).is_visible()
    assert page.get_by_role("cell", name="https://example.org/notes").is_visible()
    assert page.get_by_role("cell", name="550 5.1.1 <recipient>: no such user").is_visible()
    screenshot(page, "report")
    assert errors == []
