"""An editor builds a list from a CSV in Chromium, with a real worker doing the import.

With ``CRIER_SCREENSHOTS=1`` the run also saves the screenshots in docs/screenshots/.
"""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from newsletter.models import Role
from subscribers.models import ImportBatch, ImportStatus, Subscriber
from tests.factories import PASSWORD, MembershipFactory

pytestmark = [pytest.mark.browser, pytest.mark.integration]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PHONE = {"width": 375, "height": 740}
MEMBERS_CSV = (
    "Mail,Display name,Project role,Joined\n"
    "ada@example.org,Ada Lovelace,maintainer,2019\n"
    "grace@example,Grace Hopper,reviewer,2020\n"
    "linus@example.org,Linus,contributor,2021\n"
    "margaret@example.org,Margaret Hamilton,maintainer,2022\n"
)


def screenshot(page, name: str) -> None:
    if os.environ.get("CRIER_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def fits_the_screen(page) -> bool:
    """Nothing makes the whole page scroll sideways (wide tables scroll in their box)."""
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_an_editor_imports_a_csv_then_finds_someone_and_their_consent(
    live_server, worker, page, settings, tmp_path
):
    settings.IMPORT_DIR = tmp_path / "imports"
    membership = MembershipFactory(
        role=Role.EDITOR, user__username="editor", newsletter__name="Kernel News"
    )
    slug = membership.newsletter.slug
    problems = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    members = tmp_path / "members.csv"
    members.write_text(MEMBERS_CSV)

    page.goto(f"{live_server.url}/dashboard/login/")
    page.get_by_label("Username").fill("editor")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{live_server.url}/dashboard/n/{slug}/")
    page.get_by_role("link", name="Lists").click()

    # Create a list.
    page.get_by_role("button", name="New list").click()
    page.get_by_label("Name").fill("Contributors")
    page.get_by_label("Slug").fill("contributors")
    page.get_by_label("Description").fill("People who work on the kernel")
    page.get_by_label("Opt-in").select_option("single")
    page.get_by_role("button", name="Create list").click()
    assert page.get_by_text("List “Contributors” created.").is_visible()

    # Upload, map the columns, check: the bad row is reported by its line.
    page.get_by_role("link", name="Import into Contributors").click()
    page.get_by_label("CSV file").set_input_files(members)
    page.get_by_role("button", name="Upload and map columns").click()
    assert page.get_by_label("Mail").input_value() == "email"
    assert page.get_by_label("Display name").input_value() == "name"
    page.get_by_label("Joined").select_option("ignore")
    page.get_by_label("How did the people in this file consent?").fill(
        "Registered contributors who ticked “send me the newsletter” on the portal"
    )
    page.get_by_role("button", name="Check (dry run)").click()
    dry_run = page.locator("#dry-run")
    assert "4 rows read, 1 would be skipped" in dry_run.get_by_role("status").inner_text()
    bad = dry_run.get_by_role("row").filter(has_text="invalid email address")
    assert bad.get_by_role("cell").first.inner_text() == "3"
    assert not Subscriber.objects.exists()

    # Import (the form kept its answers): the worker runs it, the page follows it to the end.
    assert page.get_by_label("Joined").input_value() == "ignore"
    page.get_by_role("button", name="Import", exact=True).click()
    status = page.locator("#import-status")
    status.filter(has_text="Done").wait_for(timeout=60_000)
    assert page.locator('[data-count="created"]').inner_text() == "3"
    assert page.locator("#import-progress progress").get_attribute("value") == "1"
    assert page.locator('td[data-line="3"]').is_visible()
    batch = ImportBatch.objects.get()
    assert (batch.status, batch.actor) == (ImportStatus.DONE, "editor (dashboard)")
    assert "subscribers.tasks.import_subscribers" in worker.output()
    screenshot(page, "import-result")

    page.get_by_role("link", name="Lists").click()
    row = page.locator('tr[data-list="contributors"]')
    assert row.locator('[data-count="confirmed"]').inner_text() == "3"
    screenshot(page, "lists")

    # Search (keyboard only), then open a subscriber and read their consent ledger.
    page.get_by_role("link", name="Subscribers").click()
    search = page.get_by_label("Search by email or name")
    search.focus()
    page.keyboard.type("hamilton")
    page.keyboard.press("Enter")
    page.wait_for_url("**q=hamilton**")
    results = page.locator("#subscriber-results")
    expect(results).not_to_contain_text("ada@example.org")
    results.get_by_role("link", name="margaret@example.org").click()
    assert page.get_by_role("heading", name="margaret@example.org").is_visible()
    ledger = page.get_by_role("table", name="Consent ledger")
    assert "Imported with attestation" in ledger.inner_text()
    assert "ticked “send me the newsletter” on the portal" in ledger.inner_text()
    assert "By editor (dashboard)" in ledger.inner_text()
    assert page.get_by_text("The ledger's hash chain verifies").is_visible()
    assert "maintainer" in page.locator("dl.facts").inner_text()
    screenshot(page, "subscriber")

    page.set_viewport_size(PHONE)
    page.reload()
    assert fits_the_screen(page)
    page.get_by_role("link", name="Lists").click()
    assert fits_the_screen(page)
    assert problems == []
