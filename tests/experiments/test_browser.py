"""The editor's Experiment section, the experiment page and the report's decision in
Chromium at 1280 and 375 px: what a person sees, axe's serious findings, screenshots to
/tmp/experiments-*.png (and docs/screenshots/pages/ with CRIER_SCREENSHOTS=1)."""

import pytest

from delivery import lifecycle
from newsletter.models import Role
from tests.dashboard.test_browser import log_in
from tests.dashboard.test_pages_browser import WIDTHS, Walk
from tests.factories import MembershipFactory

from .conftest import audience, send_all

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def shoot(page, name: str) -> None:
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=f"/tmp/experiments-{name}-{width}.png", full_page=True)


def test_an_editor_sets_up_an_experiment_and_chooses_the_winner(live_server, page, newsletter):
    MembershipFactory(newsletter=newsletter, role=Role.EDITOR, user__username="eddie")
    campaign = audience(newsletter, 8)
    base = f"{live_server.url}/dashboard/n/{newsletter.slug}/campaigns/{campaign.pk}"
    walk = Walk(page)
    log_in(page, live_server, "eddie")

    page.goto(f"{base}/edit/")
    page.get_by_role("link", name="Set up an experiment").click()
    page.get_by_label("Variant A: subject").fill("Kernel 7.0: what changed")
    page.get_by_label("Variant C: subject").fill("Kernel 7.0 is out")
    page.get_by_label("Sample size").fill("50")
    page.get_by_role("button", name="Save the experiment").click()
    assert page.get_by_text("Variant B is empty: give it a subject, a body or both.").is_visible()
    walk.visit("experiment_form_errors")
    shoot(page, "form-errors")

    page.get_by_label("Variant B: body").fill("Seven **big** changes, one page.")
    page.get_by_label("Variant C: subject").fill("")
    page.get_by_role("button", name="Save the experiment").click()
    page.wait_for_url(f"{base}/edit/")
    section = page.locator("[data-experiment]")
    assert "2 variants, the winner by human opens after 4 hours." in section.inner_text()
    walk.visit("campaign_editor_experiment")
    shoot(page, "editor")

    lifecycle.campaign_start(campaign=campaign)
    send_all(campaign)
    page.goto(f"{base}/report/")
    assert page.locator("[data-experiment=testing] [data-variant]").count() == 2
    assert "Nothing counted yet" in page.locator("[data-verdict]").inner_text()
    walk.visit("report_experiment_testing")
    shoot(page, "report")
    page.get_by_label("Variant B").check()
    page.get_by_role("button", name="Choose this winner now").click()
    assert page.get_by_text("Variant B won: it is going to the rest of the audience.").is_visible()
    assert "Variant B went to the rest" in page.locator("[data-verdict]").inner_text()
    walk.visit("report_experiment_decided")
    shoot(page, "decided")
    walk.verdict()
