"""An editor acts on everyone a filter matches, too many for one request: a real
worker does it, and the page follows its progress bar to the outcome, wide and narrow.

With ``CRIER_SCREENSHOTS=1`` the run also saves the screenshots in docs/screenshots/.
"""

import pytest

from newsletter.models import Role
from subscribers import services
from subscribers.models import BulkJob, BulkJobStatus, ConsentSource, SubscriptionStatus
from tests.factories import PASSWORD, MailingListFactory, MembershipFactory
from tests.subscribers.test_dashboard_browser import PHONE, fits_the_screen, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.mark.parametrize("viewport", ["wide", "phone"])
def test_a_big_bulk_action_runs_in_the_worker_and_the_page_follows_it(
    live_server, worker, page, settings, viewport
):
    settings.BULK_ACTION_IN_REQUEST_MAX = 5
    releases = MailingListFactory(slug="releases", name="Releases", newsletter__name="Kernel News")
    newsletter = releases.newsletter
    MailingListFactory(newsletter=newsletter, slug="contributors", name="Contributors")
    for number in range(12):
        services.subscribe(
            newsletter=newsletter,
            email=f"person{number:02}@example.org",
            lists=[releases],
            source=ConsentSource.DASHBOARD,
            wording="x",
            attestation="Signed up at the booth",
        )
    MembershipFactory(newsletter=newsletter, role=Role.EDITOR, user__username="editor")
    problems = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    if viewport == "phone":
        page.set_viewport_size(PHONE)
    else:
        page.set_viewport_size({"width": 1280, "height": 800})

    page.goto(f"{live_server.url}/dashboard/login/")
    page.get_by_label("Username").fill("editor")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{live_server.url}/dashboard/n/{newsletter.slug}/subscribers/?list=releases")
    bulk = page.get_by_role("group", name="With these people")
    bulk.get_by_label("Apply to").select_option("all")
    bulk.get_by_label("Action", exact=True).select_option("add")
    bulk.get_by_label("List").select_option("contributors")
    bulk.get_by_label("How they agreed").fill("Asked at the 2026 summit")
    bulk.get_by_role("button", name="Apply").click()

    assert page.get_by_role("heading", name="Adding people to “Contributors”").is_visible()
    status = page.locator("#bulk-job-status")
    status.filter(has_text="Done.").wait_for(timeout=60_000)
    bar = page.locator("#bulk-job-progress progress")
    assert (bar.get_attribute("value"), bar.get_attribute("max")) == ("12", "12")
    assert page.locator("[data-summary]").inner_text() == "12 people added to Contributors."
    assert page.locator('[data-count="changed"]').inner_text() == "12"
    assert fits_the_screen(page)
    screenshot(page, "bulk-job" if viewport == "wide" else "bulk-job-phone")
    job = BulkJob.objects.get()
    assert job.status == BulkJobStatus.DONE
    assert "subscribers.tasks.run_bulk_job" in worker.output()
    confirmed = newsletter.lists.get(slug="contributors").subscriptions
    assert confirmed.filter(status=SubscriptionStatus.CONFIRMED).count() == 12

    page.get_by_role("link", name="Back to the subscribers").click()
    jobs = page.get_by_role("region", name="Recent bulk actions")
    assert "Done" in jobs.inner_text() and "12 of 12" in jobs.inner_text()
    assert fits_the_screen(page)
    screenshot(page, "bulk-jobs" if viewport == "wide" else "bulk-jobs-phone")
    assert problems == []
