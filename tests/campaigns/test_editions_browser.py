"""The edition editor in Chromium, at 1280 and 375 px: the live preview follows the
translation as it is typed, and nothing overflows the phone's width."""

import os

import pytest
from playwright.sync_api import expect

from campaigns import services
from newsletter.models import Role
from tests.factories import PASSWORD, CampaignFactory, MembershipFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SCREENSHOTS = os.environ.get("CRIER_SCREENSHOTS", "")


@pytest.mark.parametrize("width", [1280, 375])
def test_an_editor_writes_a_french_edition_with_its_live_preview(live_server, page, width):
    membership = MembershipFactory(role=Role.EDITOR, user__username=f"translator{width}")
    campaign = CampaignFactory(newsletter=membership.newsletter)
    services.edition_create(campaign=campaign, language="de", subject="Neu", body="Hallo.")
    problems = []
    page.on(
        "console",
        lambda message: problems.append(message.text) if message.type == "error" else None,
    )
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{live_server.url}/dashboard/login/")
    page.fill("input[name=username]", f"translator{width}")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    base = f"{live_server.url}/dashboard/n/{campaign.newsletter.slug}/campaigns/{campaign.pk}"

    page.goto(f"{base}/edit/")
    editions = page.locator("fieldset.editions")
    expect(editions.locator('[data-edition="de"]')).to_contain_text("translation pending")
    expect(editions.locator('[data-flag="no-readers"]')).to_be_visible()
    if SCREENSHOTS:
        editions.scroll_into_view_if_needed()
        page.screenshot(path=f"{SCREENSHOTS}/editions-editor-{width}.png", full_page=True)
    page.get_by_role("button", name="Add an edition").click()

    page.fill("input[name=language]", "fr")
    page.fill("input[name=subject]", "La 2.0 est sortie")
    page.fill(
        "textarea[name=body]",
        "Bonjour {{ subscriber.name }} !\n\n{% if list releases %}\nPour la liste.\n{% endif %}",
    )
    alert = page.locator("#live-preview [role=alert]")
    expect(alert).to_contain_text("line 3")
    expect(alert).to_contain_text('no list "releases"')
    page.fill("textarea[name=body]", "Bonjour {{ subscriber.name }}, la 2.0 est là.")
    preview = page.frame_locator("#live-preview iframe.mail-preview")
    expect(preview.get_by_text("Bonjour Ada Lovelace, la 2.0 est là.")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    if SCREENSHOTS:
        page.screenshot(path=f"{SCREENSHOTS}/edition-form-{width}.png", full_page=True)

    page.get_by_role("button", name="Save").click()
    expect(page.locator('fieldset.editions [data-edition="fr"]')).to_be_visible()
    page.goto(f"{base}/?edition=fr")
    expect(page.locator("nav.editions-tabs [aria-current=page]")).to_contain_text("French")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    if SCREENSHOTS:
        page.screenshot(path=f"{SCREENSHOTS}/edition-preview-{width}.png", full_page=True)
    assert problems == []
