"""The preference center for a person who gets two newsletters, in Chromium at desktop and
phone widths: every choice reachable, the page no wider than the screen, and a change
made in one newsletter's section saved where it belongs.

With CRIER_SCREENSHOTS=1 the pages are saved to docs/screenshots/.
"""

import pytest

from subscribers import fields, services, tokens
from subscribers.models import ConsentSource, Subscriber
from tests.dashboard.test_browser import screenshot
from tests.factories import MailingListFactory, NewsletterFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 375, "height": 800}}


def join(newsletter, slugs):
    lists = [
        MailingListFactory(newsletter=newsletter, slug=slug, name=slug.replace("-", " ").title())
        for slug in slugs
    ]
    services.subscribe(
        newsletter=newsletter,
        email="ada@example.org",
        name="Ada",
        lists=lists,
        source=ConsentSource.DASHBOARD,
        wording="I agree.",
        attestation="test",
    )
    return Subscriber.objects.get(newsletter=newsletter)


@pytest.mark.parametrize("size", list(SIZES))
def test_the_preference_center_for_two_newsletters(size, live_server, browser):
    kernel = NewsletterFactory(slug="kernel", name="Kernel News", tracking_policy="individual")
    docs = NewsletterFactory(slug="docs", name="Documentation Digest")
    ada = join(kernel, ["releases", "security-advisories"])
    join(docs, ["weekly-notes"])
    token = tokens.preferences_token(tokens.Claim(ada.pk, kernel.pk))

    page = browser.new_page(viewport=SIZES[size])
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{live_server.url}/s/prefs/{token}/")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    for name in ("Kernel News", "Documentation Digest", "About you, for every newsletter above"):
        assert page.get_by_role("heading", name=name).is_visible()
    screenshot(page, f"preference-center-{size}")

    section = page.locator(f"#newsletter-{docs.pk}")
    section.get_by_label("How often: Weekly Notes").select_option("monthly_digest")
    section.get_by_label("Pause until I come back").check()
    section.locator('form:has(input[value="save_newsletter"]) button').click()
    page.locator(f"#newsletter-{docs.pk} [role=status]").wait_for()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    page.get_by_label("Do not track me at all: no tracking image and no rewritten links").check()
    page.get_by_label("Plain text only").check()
    page.get_by_role("button", name="Save preferences").click()
    page.get_by_text("Your preferences are saved.").wait_for()
    assert page.get_by_role("button", name="Stop all mail").is_visible()
    page.close()

    theirs = Subscriber.objects.get(newsletter=docs)
    assert theirs.paused_indefinitely
    assert theirs.subscriptions.get().frequency == "monthly_digest"
    for contact in Subscriber.objects.all():
        assert contact.tracking_off and contact.mail_format == "text"
    assert errors == []


@pytest.mark.parametrize("size", list(SIZES))
def test_the_person_edits_a_newsletters_custom_fields(size, live_server, browser):
    kernel = NewsletterFactory(slug="kernel", name="Kernel News")
    fields.field_create(
        newsletter=kernel, key="sdk", label="Python SDK", type="yes_no", editable_by_reader=True
    )
    fields.field_create(
        newsletter=kernel,
        key="since",
        label="Contributor since",
        type="date",
        editable_by_reader=True,
    )
    fields.field_create(newsletter=kernel, key="tier", label="Sponsor tier", shown_to_reader=True)
    ada = join(kernel, ["releases"])
    ada.attributes = {"tier": "gold"}
    ada.save()
    token = tokens.preferences_token(tokens.Claim(ada.pk, kernel.pk))

    page = browser.new_page(viewport=SIZES[size])
    page.goto(f"{live_server.url}/s/prefs/{token}/")
    section = page.locator(f"#fields-{kernel.pk}")
    assert section.get_by_text("gold").is_visible()
    section.get_by_label("Python SDK").select_option("yes")
    section.get_by_label("Contributor since").fill("2021-03-04")
    section.get_by_role("button", name="Save my answers for Kernel News").click()
    page.get_by_text("Your answers are saved.").wait_for()
    assert section.get_by_label("Contributor since").input_value() == "2021-03-04"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=f"/tmp/prefields-{size}.png", full_page=True)
    page.close()
    ada.refresh_from_db()
    assert ada.attributes == {"tier": "gold", "sdk": True, "since": "2021-03-04"}
