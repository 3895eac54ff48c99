"""One preference center for every newsletter a person gets, and the reader's choices:
frequency, pause, tracking, format; what the data link shows of everything held."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from participation.models import ReferrerProfile
from subscribers import ledger, services, tokens
from subscribers.models import (
    ConsentSource,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
    Suppression,
)
from tests.factories import MailingListFactory, NewsletterFactory

pytestmark = pytest.mark.django_db

EMAIL = "ada@example.org"


def join(newsletter, slugs, email=EMAIL, name=""):
    lists = [
        newsletter.lists.filter(slug=slug).first()
        or MailingListFactory(newsletter=newsletter, slug=slug, name=slug.title())
        for slug in slugs
    ]
    services.subscribe(
        newsletter=newsletter,
        email=email,
        name=name,
        lists=lists,
        source=ConsentSource.DASHBOARD,
        wording="I agree.",
        attestation="test",
    )
    return Subscriber.objects.filter(newsletter=newsletter).with_address(email).get()


@pytest.fixture
def kernel():
    return NewsletterFactory(slug="kernel", name="Kernel News", tracking_policy="individual")


@pytest.fixture
def docs():
    return NewsletterFactory(slug="docs", name="Docs Digest", tracking_policy="aggregate")


@pytest.fixture
def ada(kernel, docs):
    """Ada gets both newsletters; the link in her mail is Kernel's."""
    mine = join(kernel, ["releases", "security"], name="Ada")
    join(docs, ["weekly"], name="Ada L.")
    return mine


def url(contact):
    claim = tokens.Claim(contact.pk, contact.newsletter_id)
    return reverse("subscribers:preferences", args=[tokens.preferences_token(claim)])


def contact_of(newsletter, email=EMAIL):
    return Subscriber.objects.filter(newsletter=newsletter).with_address(email).get()


def test_one_link_shows_every_newsletter_the_person_gets_and_nobody_elses(
    client, ada, kernel, docs
):
    stranger_letter = NewsletterFactory(name="Someone Else's")
    join(stranger_letter, ["x"], email="bob@example.org")
    NewsletterFactory(name="Never Joined")
    page = client.get(url(ada)).text
    assert "Kernel News" in page and "Docs Digest" in page
    assert "Someone Else" not in page and "Never Joined" not in page
    assert "Releases" in page and "Weekly" in page
    # Each newsletter's privacy note, and the tracking choice once for all.
    assert "counts opens and clicks per issue, never per person" in page
    assert "records opens and clicks per person" in page
    assert page.count('name="tracking"') == 3


def test_the_person_changes_another_newsletters_lists_and_frequency_from_one_link(
    client, ada, docs
):
    theirs = contact_of(docs)
    weekly = docs.lists.get(slug="weekly")
    monthly = MailingListFactory(newsletter=docs, slug="monthly", name="Monthly")
    response = client.post(
        url(ada),
        {
            "action": "save_newsletter",
            "newsletter": str(docs.pk),
            f"n{docs.pk}-lists": [str(weekly.pk), str(monthly.pk)],
            f"n{docs.pk}-frequency_{weekly.pk}": "monthly_digest",
            f"n{docs.pk}-frequency_{monthly.pk}": "weekly_digest",
            f"n{docs.pk}-pause": "return",
        },
    )
    assert response.status_code == 200
    frequencies = dict(theirs.subscriptions.values_list("mailing_list__slug", "frequency"))
    assert frequencies == {"weekly": "monthly_digest", "monthly": "weekly_digest"}
    theirs.refresh_from_db()
    assert theirs.paused_indefinitely
    # Kernel's contact is untouched, and each change is in the ledger of the contact it is about.
    ada.refresh_from_db()
    assert not ada.paused_indefinitely
    assert ada.consent_events.filter(action="preferences_changed").count() == 0
    last = theirs.consent_events.last()
    assert last.source == ConsentSource.PREFERENCE_CENTER
    assert last.details["frequency"] == {"weekly": "monthly_digest"}
    assert "kernel" not in str(last.details).lower()
    assert ledger.verify_chain(theirs).valid


def test_a_newsletter_the_person_does_not_get_cannot_be_named_in_the_form(client, ada):
    other = NewsletterFactory()
    join(other, ["x"], email="bob@example.org")
    response = client.post(
        url(ada),
        {"action": "save_newsletter", "newsletter": str(other.pk), f"n{other.pk}-lists": []},
    )
    assert response.status_code == 400
    assert Subscription.objects.filter(newsletter=other).get().status == "confirmed"


def test_about_you_applies_to_every_newsletter_and_only_what_was_changed(client, ada, docs):
    response = client.post(
        url(ada),
        {
            "action": "save_profile",
            "name": "Ada",  # unchanged: Docs keeps "Ada L."
            "language": "en",
            "tracking": "none",
            "mail_format": "text",
        },
    )
    assert "Your preferences are saved." in response.text
    theirs = contact_of(docs)
    ada.refresh_from_db()
    for contact in (ada, theirs):
        assert contact.tracking_off and contact.tracking_opt_out
        assert contact.mail_format == "text"
        assert ledger.verify_chain(contact).valid
    assert (ada.name, theirs.name) == ("Ada", "Ada L.")


def test_stop_everything_is_one_click_for_every_newsletter(client, ada, kernel, docs):
    response = client.post(url(ada), {"action": "stop_everything"})
    assert "You will receive no more mail from:" in response.text
    assert "Kernel News" in response.text and "Docs Digest" in response.text
    assert not Subscription.objects.exclude(status=SubscriptionStatus.UNSUBSCRIBED).exists()
    assert set(Subscriber.objects.values_list("status", flat=True)) == {
        SubscriberStatus.UNSUBSCRIBED
    }
    # One suppression per newsletter left, none instance-wide: joining a newsletter later
    # starts afresh, and the person can come back to these from the page.
    assert set(Suppression.objects.values_list("newsletter_id", flat=True)) == {kernel.pk, docs.pk}


def test_leaving_one_newsletter_leaves_the_others_alone(client, ada, docs):
    response = client.post(url(ada), {"action": "leave", "newsletter": str(docs.pk)})
    assert "You will receive no more mail from Docs Digest" in response.text
    assert contact_of(docs).status == SubscriberStatus.UNSUBSCRIBED
    ada.refresh_from_db()
    assert ada.status == SubscriberStatus.ACTIVE
    assert not ada.subscriptions.exclude(status=SubscriptionStatus.CONFIRMED).exists()


def test_the_newsletters_dashboard_and_api_learn_nothing_of_the_other(client, ada, kernel, docs):
    """What one newsletter's members see of their contact holds nothing about the other."""
    client.post(
        url(ada),
        {
            "action": "save_profile",
            "name": "Ada",
            "language": "en",
            "tracking": "aggregate",
            "mail_format": "html",
        },
    )
    for event in contact_of(docs).consent_events.all():
        assert str(kernel.pk) not in str(event.details.get("newsletter", ""))
        assert "Kernel" not in event.wording + str(event.details)


def test_the_subscribe_form_offers_the_tracking_choice_beside_the_privacy_note(kernel):
    MailingListFactory(newsletter=kernel, slug="releases", name="Releases")
    page = Client().get(reverse("subscribers:newsletter", args=["kernel"])).text
    note = page.index("records opens and clicks per person")
    choices = [page.index(f'value="{value}"') for value in ("newsletter", "aggregate", "none")]
    assert all(abs(position - note) < 2000 for position in choices)
    start = page.index('<form method="post" action="/n/kernel/subscribe/"')
    form = page[start : page.index("</form>", start)]
    assert 'name="tracking"' in form and "Privacy:" in form
    assert re.search(r'value="newsletter"[^>]*checked', form)


def test_a_new_reader_who_refuses_tracking_on_the_form_is_never_tracked(kernel):
    releases = MailingListFactory(newsletter=kernel, slug="releases")
    Client().post(
        reverse("subscribers:subscribe", args=["kernel"]),
        {"email": "new@example.org", "lists": ["releases"], "consent": "on", "tracking": "none"},
    )
    contact = contact_of(kernel, "new@example.org")
    assert contact.tracking_off and contact.tracking_opt_out
    assert contact.subscriptions.get().mailing_list == releases


def test_an_existing_readers_choice_on_the_form_waits_for_confirmation_and_only_tightens(
    kernel, ada, django_capture_on_commit_callbacks
):
    MailingListFactory(newsletter=kernel, slug="news")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        Client().post(
            reverse("subscribers:subscribe", args=["kernel"]),
            {"email": EMAIL, "lists": ["news"], "consent": "on", "tracking": "none"},
        )
    ada.refresh_from_db()
    assert not ada.tracking_off  # anyone may post the form: nothing changes yet
    queued = [callback.args for callback in callbacks if "send_confirmation" in str(callback)]
    assert queued == [(ada.pk, kernel.pk, "", "none")]
    # The link in the confirmation mail carries it; confirming applies it.
    claim = tokens.Claim(ada.pk, kernel.pk, tracking="none")
    assert tokens.read_confirm_token(tokens.confirm_token(claim)) == claim
    services.confirm(claim=claim)
    ada.refresh_from_db()
    assert ada.tracking_off
    # A form that would track the person more never loosens their choice.
    services.confirm(claim=tokens.Claim(ada.pk, kernel.pk, tracking="newsletter"))
    ada.refresh_from_db()
    assert ada.tracking_off


def test_old_confirmation_links_without_a_tracking_choice_still_read(kernel, ada):
    from django.core import signing

    old = signing.dumps([ada.pk, kernel.pk, "Ada"], salt=tokens.CONFIRM_SALT, compress=True)
    assert tokens.read_confirm_token(old) == tokens.Claim(ada.pk, kernel.pk, "Ada")


def test_the_data_link_shows_everything_held_in_plain_words(client, ada, kernel, docs):
    ada_docs = contact_of(docs)
    Subscriber.objects.filter(pk=ada_docs.pk).update(attributes={"city": "Lyon"})
    ReferrerProfile.objects.create(
        newsletter=kernel, subscriber=ada, show_publicly=True, display_name="The Countess"
    )
    claim = tokens.Claim(ada.pk, kernel.pk)
    link = reverse("subscribers:data", args=[tokens.data_token(claim)])
    page = client.get(link).text
    assert "What we hold about you" in page
    assert "for 2 newsletters" in page
    for words in (
        "Kernel News",
        "Docs Digest",
        "Ada L.",
        "city: Lyon",
        "Releases",
        "Every issue",
        "Subscribed",
        "Dashboard",
        "I agree.",
        "As the newsletter",
        "HTML, with a plain-text part",
        "Not paused",
        # What another app keeps, in words too.
        "Referrals",
        "Shown among top referrers",
        "The Countess",
    ):
        assert words in page, words
    # The same content as the download.
    download = client.post(link, {"action": "export"}).json()
    assert {each["newsletter"] for each in download["newsletters"]} == {
        "Kernel News",
        "Docs Digest",
    }
    assert download["newsletters"][0]["subscriptions"][0]["frequency"] == "every_issue"


def test_the_reader_sets_their_time_zone_for_every_newsletter_and_an_unknown_one_is_refused(
    client, ada, docs
):
    profile = {"action": "save_profile", "name": "Ada", "language": "en"}
    profile.update(tracking="newsletter", mail_format="html")
    page = client.get(url(ada)).text
    assert 'name="time_zone"' in page and '<option value="Asia/Tokyo">' in page
    refused = client.post(url(ada), {**profile, "time_zone": "Mars/Olympus"})
    assert refused.status_code == 422
    assert "Select a valid choice" in refused.text
    ada.refresh_from_db()
    assert ada.time_zone == ""
    response = client.post(url(ada), {**profile, "time_zone": "Asia/Tokyo"})
    assert "Your preferences are saved." in response.text
    ada.refresh_from_db()
    assert (ada.time_zone, contact_of(docs).time_zone) == ("Asia/Tokyo", "Asia/Tokyo")
    assert '<option value="Asia/Tokyo" selected>' in client.get(url(ada)).text
    event = ada.consent_events.order_by("-id").first()
    assert event.details["time_zone"] == "Asia/Tokyo" and event.details["changed"] == ["time_zone"]
