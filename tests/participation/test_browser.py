"""Participation in Chromium: a reader answers a consultation from a mail caught in the
outbox and changes the answer; a contributor submits to an open call, an editor moderates
it and finds it credited in the draft; a friend subscribes through a reader's link and the
subscription is attributed.

With CRIER_SCREENSHOTS=1 the pages are saved to docs/screenshots/ (the README shows some).
"""

import re

import pytest
from playwright.sync_api import expect

from delivery.models import OutboxMessage
from newsletter.models import Role
from participation.models import Answer, Referral, Submission, SubmissionStatus
from participation.services import calls, consultations, transparency
from participation.services.consultations import QuestionSpec
from subscribers import tokens
from subscribers.models import Subscriber
from tests.conftest import wait_for
from tests.dashboard.test_browser import screenshot
from tests.factories import PASSWORD, CampaignFactory, MembershipFactory
from tracking.models import CampaignCount

from .conftest import mail_of, reader, send

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 375, "height": 800}


def log_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/dashboard/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def fits_a_phone(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def watch_errors(page) -> list[str]:
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


@pytest.fixture
def live(live_server, settings):
    settings.SITE_URL = live_server.url
    return live_server.url


def open_mail(page, html: str, errors: list[str]):
    """The mail in a tab of its own, as a mail client shows it (no site, no CSP); the
    pages its links open are watched for errors."""
    tab = page.context.new_page()
    tab.set_content(html)
    tab.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    return tab


def test_a_reader_answers_from_the_mail_then_changes_the_answer(live, page, newsletter, news):
    errors = watch_errors(page)
    consultation = consultations.consultation_create(
        newsletter=newsletter,
        created_by=None,
        title="Roadmap 2027",
        slug="roadmap",
        public_results=True,
        questions=[QuestionSpec("single", "Which feature next?", ["Plugins", "Themes", "Speed"])],
    )
    question = consultation.questions.get()
    ada = reader(newsletter, "ada@example.org")
    campaign = CampaignFactory(
        newsletter=newsletter, body="Help us choose:\n\n{{ consultation.roadmap }}\n", public=True
    )
    send(campaign, [news])
    html = mail_of(campaign, ada.email).body("html")

    # The mail as the reader sees it, then one tap on "Speed".
    page = open_mail(page, html, errors)
    screenshot(page, "participation-consultation-mail")
    page.get_by_role("link", name="Speed").click()
    page.get_by_role("heading", name="Roadmap 2027").wait_for()
    expect(page.get_by_label("Speed")).to_be_checked()
    assert not Answer.objects.exists()  # opening the link recorded nothing
    page.get_by_label("A comment (optional)").fill("Startup time matters most.")
    screenshot(page, "participation-answer")
    page.get_by_role("button", name="Confirm my answer").click()
    page.get_by_role("heading", name="Thank you for answering").wait_for()
    answer = Answer.objects.get()
    assert answer.choices == [question.choices.get(label="Speed").pk] and answer.subscriber is None

    # The same link again: the answer is there, and can be changed.
    page = open_mail(page, html, errors)
    page.get_by_role("link", name="Themes").click()
    expect(page.get_by_text("You answered this question already")).to_be_visible()
    page.get_by_role("button", name="Change my answer").click()
    page.get_by_role("heading", name="Your answer is changed").wait_for()
    assert Answer.objects.get().choices == [question.choices.get(label="Themes").pk]
    question.refresh_from_db()
    assert question.respondents == 1

    page.set_viewport_size(PHONE)
    page.goto(f"{live}/n/demo/consultations/roadmap/")
    assert fits_a_phone(page)
    screenshot(page, "participation-consultation-phone")
    assert errors == []


def test_a_contribution_is_sent_moderated_and_credited_in_the_draft(live, page, newsletter):
    errors = watch_errors(page)
    calls.call_create(
        newsletter=newsletter,
        created_by=None,
        title="Showcase: what did you build with Demo 2.0?",
        slug="showcase",
        description="Tell us what you built with Demo 2.0; the best go in the next issue.",
    )
    draft = CampaignFactory(newsletter=newsletter, name="Next issue", body="Hello everyone.")
    MembershipFactory(newsletter=newsletter, role=Role.EDITOR, user__username="editor")

    page.set_viewport_size(PHONE)
    page.goto(f"{live}/n/demo/calls/showcase/")
    assert fits_a_phone(page)
    page.get_by_label("Title").fill("A plugin for maps")
    page.get_by_label("Link (optional)").fill("https://maps.example.org/")
    page.get_by_label("Tell us about it").fill("It draws <b>maps</b> from Demo's data.")
    page.get_by_label("Credit it to").fill("Ada L.")
    page.get_by_label("Your email address (optional)").fill("ada@example.org")
    page.get_by_label("Tell me when it is published").check()
    page.get_by_label("I agree that this newsletter publishes").check()
    screenshot(page, "participation-call-phone")
    page.get_by_role("button", name="Send my contribution").click()
    page.get_by_role("heading", name="Thank you for your contribution").wait_for()
    submission = Submission.objects.get()
    assert submission.text == "It draws maps from Demo's data."

    page.set_viewport_size({"width": 1280, "height": 900})
    log_in(page, live, "editor")
    page.goto(f"{live}/dashboard/n/demo/participation/")
    page.get_by_role("link", name="Showcase: what did you build with Demo 2.0?").click()
    screenshot(page, "participation-moderation")
    page.get_by_role("button", name="Accept “A plugin for maps”").click()
    expect(page.get_by_text("“A plugin for maps”: accepted.")).to_be_visible()
    page.get_by_label("Into the draft").select_option(label="Next issue")
    page.get_by_role("button", name="Put them in the draft").click()
    expect(page.get_by_text("1 contribution added at the end of “Next issue”.")).to_be_visible()
    preview = page.frame_locator("iframe.mail-preview")
    expect(preview.get_by_role("link", name="A plugin for maps")).to_be_visible()
    expect(preview.get_by_text("Contributed by Ada L.")).to_be_visible()
    submission.refresh_from_db()
    assert submission.status == SubmissionStatus.ACCEPTED and submission.campaign_id == draft.pk
    assert errors == []


def test_a_friend_subscribes_through_a_reader_s_link_and_it_is_attributed(
    live, page, newsletter, news, worker
):
    errors = watch_errors(page)
    grace = reader(newsletter, "grace@example.org", name="Grace")
    MembershipFactory(newsletter=newsletter, role=Role.VIEWER, user__username="watcher")
    preferences = tokens.preferences_token(tokens.Claim(grace.pk, newsletter.pk))

    # Grace finds her link in her preference center.
    page.goto(f"{live}/s/prefs/{preferences}/")
    link = page.get_by_label("Your referral link").input_value()
    assert (
        link == f"{live}/n/demo/?ref={tokens.referral_code(tokens.Claim(grace.pk, newsletter.pk))}"
    )
    screenshot(page, "participation-preferences")

    # A friend follows it and subscribes; the confirmation comes through the worker.
    friend = page.context.browser.new_page()
    friend.set_viewport_size(PHONE)
    friend.goto(link)
    expect(friend.get_by_text("A reader of this newsletter sent you this link.")).to_be_visible()
    assert fits_a_phone(friend)
    friend.get_by_label("Email address").fill("friend@example.org")
    friend.get_by_label(newsletter.consent_text).check()
    friend.get_by_role("button", name="Subscribe").click()
    friend.get_by_role("heading", name="Check your inbox").wait_for()
    mail = wait_for(lambda: OutboxMessage.objects.filter(recipients=["friend@example.org"]).first())
    confirm = re.search(r"https?://\S+/s/confirm/\S+/", mail.body("plain")).group(0)
    friend.goto(confirm)
    friend.get_by_role("button", name="Yes, subscribe me").click()
    friend.get_by_role("heading", name="You are subscribed").wait_for()
    friend.close()

    newcomer = Subscriber.objects.with_address("friend@example.org").get()
    referral = Referral.objects.get()
    assert (referral.referrer, referral.referred) == (grace, newcomer)
    assert referral.confirmed_at is not None

    log_in(page, live, "watcher")
    page.goto(f"{live}/dashboard/n/demo/participation/referrals/")
    expect(page.locator('[data-count="confirmed"]')).to_have_text("1")
    page.wait_for_selector("[data-chart=referrals-data] canvas")
    screenshot(page, "participation-referrals")
    page.goto(f"{live}/dashboard/n/demo/subscribers/{newcomer.pk}/")
    attributed = page.locator(f'[data-referred-by="{grace.pk}"]')
    expect(attributed).to_have_text("Through a reader's referral link")
    assert "grace@example.org" not in page.locator("#consent-ledger ~ div").inner_text()
    assert errors == []


def test_the_transparency_page_draws_its_chart_and_fits_a_phone(live, page, newsletter, news):
    errors = watch_errors(page)
    people = [reader(newsletter, f"p{number}@example.org") for number in range(12)]
    issue = CampaignFactory(newsletter=newsletter, subject="Demo 2.0 is out", public=True)
    send(issue, [news])
    CampaignCount.objects.create(campaign=issue, opens_human=9, clicks_human=6, opens_machine=20)
    transparency.settings_update(
        newsletter=newsletter, transparency_page=True, referral_thanks=False
    )
    transparency.refresh(newsletter)

    page.goto(f"{live}/n/demo/stats/")
    page.wait_for_selector("[data-chart=audience-data] canvas")
    expect(page.locator('[data-figure="subscribers"]')).to_have_text("12")
    expect(page.locator('[data-figure="open-rate"]')).to_have_text("75.0 %")
    screenshot(page, "participation-transparency")
    page.set_viewport_size(PHONE)
    page.reload()
    page.wait_for_selector("[data-chart=audience-data] canvas")
    assert fits_a_phone(page)
    for person in people:
        assert person.email not in page.content()
    assert errors == []
