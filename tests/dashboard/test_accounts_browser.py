"""A new instance staffed without /admin/, in Chromium, with a real worker sending the mail.

An owner invites someone; the invitation is caught in the outbox; the invitee sets a
password and logs in; the instance admin creates a newsletter; the invitee forgets
the password, gets a reset link in the outbox and logs in with the new one.

``CRIER_SCREENSHOTS=1`` saves the pages the docs show to docs/screenshots/;
``CRIER_SCREENSHOT_DIR=/some/dir`` saves every page of the walk there at 1280 and
375 px wide, to look at them.
"""

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from delivery.models import OutboxMessage
from newsletter.models import InvitationStatus, Membership, Newsletter, Role
from tests.conftest import wait_for
from tests.factories import PASSWORD, MembershipFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.integration]

DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 740}
NEW_PASSWORD = "lighthouse keeper's new phrase"


def screenshot(page, name: str, *, docs: bool = False) -> None:
    if docs and os.environ.get("CRIER_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=DOCS_SCREENSHOTS / f"{name}.png", full_page=True)
    if folder := os.environ.get("CRIER_SCREENSHOT_DIR"):
        Path(folder).mkdir(parents=True, exist_ok=True)
        for label, size in (("1280", DESKTOP), ("375", PHONE)):
            page.set_viewport_size(size)
            page.screenshot(path=Path(folder) / f"{name}-{label}.png", full_page=True)
        page.set_viewport_size(DESKTOP)


def fits_a_phone(page) -> bool:
    """At 375 px, nothing makes the page scroll sideways."""
    page.set_viewport_size(PHONE)
    fits = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.set_viewport_size(DESKTOP)
    return fits


def log_in(page, live_server, username: str, password: str) -> None:
    page.goto(f"{live_server.url}/dashboard/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def log_out(page) -> None:
    page.get_by_role("button", name=re.compile(r"^Log out")).click()
    expect(page.get_by_role("heading", name="Log in to Crier")).to_be_visible()


def link_in_mail(to: str, pattern: str, *, after: int = 0) -> str:
    mail = wait_for(
        lambda: OutboxMessage.objects.filter(recipients=[to], pk__gt=after).order_by("-pk").first(),
        timeout=60,
    )
    return re.search(pattern, mail.body("plain")).group(0)


def test_invite_sign_up_create_a_newsletter_and_reset_a_password(live_server, worker, browser):
    owner = MembershipFactory(
        role=Role.OWNER, user__username="olga", newsletter__name="Project News"
    )
    UserFactory(username="root", is_superuser=True, is_staff=True)
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors = []
    page.on("console", lambda msg: errors.append(msg) if msg.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))

    # The owner invites Ada as an editor.
    log_in(page, live_server, "olga", PASSWORD)
    page.get_by_role("link", name="Project News").click()
    page.get_by_role("link", name="Settings").click()
    page.get_by_role("link", name="Members").click()
    page.get_by_label("Email address").fill("ada@example.org")
    page.get_by_label("Role", exact=True).select_option("editor")
    page.get_by_role("button", name="Send the invitation").click()
    expect(page.get_by_text("Invitation sent to ada@example.org.")).to_be_visible()
    invitation_url = link_in_mail("ada@example.org", r"https?://\S+/dashboard/invitations/\S+/")
    page.reload()
    expect(page.get_by_role("rowheader", name="ada@example.org")).to_be_visible()
    expect(page.get_by_text("Works until")).to_be_visible()
    screenshot(page, "members-invitations", docs=True)
    log_out(page)

    # Ada follows the link, chooses a username and a password, and logs in.
    page.goto(invitation_url)
    expect(page.get_by_role("heading", name="Join Project News")).to_be_visible()
    assert fits_a_phone(page)
    screenshot(page, "invitation")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill("not the same")
    page.get_by_role("button", name="Create my account").click()
    expect(page.get_by_text("The two password fields didn’t match.")).to_be_visible()
    screenshot(page, "invitation-error")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Create my account").click()
    expect(page.get_by_text("Your account ada is ready.")).to_be_visible()
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Project News")).to_be_visible()
    assert Membership.objects.get(user__username="ada").role == Role.EDITOR
    assert owner.newsletter.invitations.get().status == InvitationStatus.ACCEPTED
    page.goto(invitation_url)
    expect(
        page.get_by_role("heading", name="This invitation does not work any more")
    ).to_be_visible()
    screenshot(page, "invitation-invalid")
    page.goto(f"{live_server.url}/dashboard/")
    log_out(page)

    # The instance admin creates a newsletter; its slug follows the name as it is typed.
    log_in(page, live_server, "root", PASSWORD)
    page.get_by_role("button", name="New newsletter").click()
    page.get_by_label("Name", exact=True).fill("Kernel Release Notes")
    expect(page.get_by_label("Slug")).to_have_value("kernel-release-notes")
    page.get_by_label("Sender name").fill("Kernel")
    page.get_by_label("Sender address").fill("news@kernel.example.org")
    page.get_by_label("Postal address").fill("Kernel Association\n1 Example Street\nParis")
    page.get_by_label("Timezone").fill("Europe/Paris")
    screenshot(page, "newsletter-create", docs=True)
    page.get_by_role("button", name="Create the newsletter").click()
    expect(page.get_by_text("Kernel Release Notes is ready.")).to_be_visible()
    kernel = Newsletter.objects.get(slug="kernel-release-notes")
    assert kernel.membership_set.get().user.username == "root"
    assert kernel.layouts.count() == 3
    log_out(page)

    # Ada forgot her password: a link in the outbox sets a new one.
    page.get_by_role("link", name="Forgot your password?").click()
    assert fits_a_phone(page)
    screenshot(page, "password-reset")
    last_mail = OutboxMessage.objects.order_by("-pk").values_list("pk", flat=True).first()
    page.get_by_label("Email address").fill("ada@example.org")
    page.get_by_role("button", name="Send me a link").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    screenshot(page, "password-reset-sent")
    reset_url = link_in_mail(
        "ada@example.org", r"https?://\S+/dashboard/password/set/\S+/", after=last_mail
    )
    page.goto(reset_url)
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    assert "set-password" in page.url  # the token is no longer in the address bar
    assert fits_a_phone(page)
    screenshot(page, "password-set")
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password confirmation").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Save the password").click()
    expect(page.get_by_role("heading", name="Password saved")).to_be_visible()
    screenshot(page, "password-saved")

    log_in(page, live_server, "ada", PASSWORD)
    expect(page.get_by_text("Please enter a correct username and password.")).to_be_visible()
    log_in(page, live_server, "ada", NEW_PASSWORD)
    expect(page.get_by_role("heading", name="Newsletters")).to_be_visible()
    expect(page.get_by_role("link", name="Project News")).to_be_visible()
    # The only failed loads: the refused sign-up (422) and the used link (404).
    unexpected = [
        error
        for error in errors
        if isinstance(error, str) or "/dashboard/invitations/" not in error.location["url"]
    ]
    assert unexpected == []
    context.close()
