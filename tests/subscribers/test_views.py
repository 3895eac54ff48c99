import json
import re
import time

import pytest
from django.test import Client
from django.urls import reverse

from delivery.models import OutboxMessage
from subscribers import emails, ledger, services, tokens
from subscribers.models import (
    ConsentSource,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
)
from tests.factories import MailingListFactory, MembershipFactory, NewsletterFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def newsletter():
    newsletter = NewsletterFactory(slug="kernel", name="Kernel News")
    MailingListFactory(newsletter=newsletter, slug="announcements", name="Announcements")
    MailingListFactory(newsletter=newsletter, slug="releases", name="Releases")
    MailingListFactory(newsletter=newsletter, slug="staff", name="Staff only", public=False)
    return newsletter


def post_subscribe(client, newsletter, **overrides):
    data = {"email": "ada@example.org", "name": "Ada", "lists": ["releases"], "consent": "on"}
    data.update(overrides)
    return client.post(reverse("subscribers:subscribe", args=[newsletter.slug]), data)


def subscribed(newsletter, confirm=True):
    services.subscribe(
        newsletter=newsletter,
        email="ada@example.org",
        lists=list(newsletter.lists.filter(slug="releases")),
        source=ConsentSource.FORM,
        wording="I agree.",
    )
    subscriber = Subscriber.objects.get()
    claim = tokens.Claim(subscriber.pk, newsletter.pk)
    if confirm:
        services.confirm(claim=claim)
    return subscriber, claim


def test_public_page_offers_public_lists_and_the_consent_wording(client, newsletter):
    page = client.get("/n/kernel/").content.decode()
    assert "Announcements" in page and "Releases" in page
    assert "Staff only" not in page
    assert newsletter.consent_text in page
    assert "counts opens and clicks per issue, never per person" in page


def test_only_members_of_the_newsletter_see_the_embeddable_form(client, newsletter):
    visitor = client.get("/n/kernel/").content.decode()
    assert "Embed this form on your website" not in visitor
    assert "/dashboard/" not in visitor
    client.force_login(MembershipFactory(role="viewer").user)  # of another newsletter
    assert "Embed this form" not in client.get("/n/kernel/").content.decode()

    client.force_login(MembershipFactory(newsletter=newsletter, role="viewer").user)
    member = client.get("/n/kernel/").content.decode()
    assert "Embed this form on your website" in member
    assert "action=&quot;http://127.0.0.1:8000/n/kernel/subscribe/&quot;" in member
    assert 'href="/dashboard/n/kernel/"' in member


def test_unknown_newsletter_is_404(client):
    assert client.get("/n/nope/").status_code == 404


def test_subscribe_says_check_your_inbox_and_stores_a_pending_subscription(client, newsletter):
    response = post_subscribe(client, newsletter)
    assert response.status_code == 200
    assert "Check your inbox" in response.content.decode()
    subscription = Subscription.objects.get()
    assert subscription.mailing_list.slug == "releases"
    assert subscription.status == SubscriptionStatus.PENDING


def test_subscribe_works_cross_site_without_a_csrf_token(newsletter):
    strict = Client(enforce_csrf_checks=True)
    assert post_subscribe(strict, newsletter).status_code == 200


def without_csrf_token(response) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", response.content.decode())


def test_subscribing_an_existing_subscriber_answers_exactly_the_same(client, newsletter):
    first = without_csrf_token(post_subscribe(client, newsletter))
    subscribed(newsletter)
    again = without_csrf_token(post_subscribe(client, newsletter))
    stranger = without_csrf_token(post_subscribe(client, newsletter, email="new@example.org"))
    assert first == again == stranger


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"email": "not-an-address"}, "Enter a valid email address, like name@example.org."),
        ({"consent": ""}, "Please tick the box to agree before subscribing."),
        ({"lists": []}, "Choose at least one list."),
        ({"lists": ["staff"]}, "Select a valid choice."),
    ],
)
def test_bad_input_is_explained_next_to_the_field_and_nothing_is_stored(
    client, newsletter, overrides, message
):
    response = post_subscribe(client, newsletter, **overrides)
    assert response.status_code == 422
    assert message in response.content.decode()
    assert not Subscriber.objects.exists()


def test_the_honeypot_catches_bots_without_telling_them(client, newsletter):
    response = post_subscribe(client, newsletter, website="http://spam.example")
    assert "Check your inbox" in response.content.decode()
    assert not Subscriber.objects.exists()


def test_too_many_subscriptions_from_one_address_get_429(client, newsletter, settings):
    settings.SUBSCRIBE_ATTEMPTS_PER_IP_PER_HOUR = 2
    codes = [
        post_subscribe(client, newsletter, email=f"p{n}@example.org").status_code for n in range(3)
    ]
    assert codes == [200, 200, 429]
    other_ip = client.post(
        reverse("subscribers:subscribe", args=["kernel"]),
        {"email": "q@example.org", "lists": ["releases"], "consent": "on"},
        REMOTE_ADDR="198.51.100.9",
    )
    assert other_ip.status_code == 200


def test_confirmation_get_only_shows_a_button_and_post_confirms(client, newsletter):
    _, claim = subscribed(newsletter, confirm=False)
    url = reverse("subscribers:confirm", args=[tokens.confirm_token(claim)])
    page = client.get(url)
    assert "Yes, subscribe me" in page.content.decode()
    assert Subscription.objects.get().status == SubscriptionStatus.PENDING
    done = client.post(url)
    assert "You are subscribed" in done.content.decode()
    assert "Releases" in done.content.decode()
    assert Subscription.objects.get().status == SubscriptionStatus.CONFIRMED


def test_an_expired_confirmation_link_offers_a_new_one(
    client, newsletter, monkeypatch, django_capture_on_commit_callbacks
):
    _, claim = subscribed(newsletter, confirm=False)
    eight_days_ago = time.time() - 8 * 24 * 3600
    monkeypatch.setattr(time, "time", lambda: eight_days_ago)
    url = reverse("subscribers:confirm", args=[tokens.confirm_token(claim)])
    monkeypatch.undo()
    page = client.get(url)
    assert page.status_code == 410
    assert "Send me a new link" in page.content.decode()
    with django_capture_on_commit_callbacks() as callbacks:
        asked = client.post(url)
    assert "a new link is on its way" in asked.content.decode()
    assert len(callbacks) == 1
    assert Subscription.objects.get().status == SubscriptionStatus.PENDING


@pytest.mark.parametrize("path", ["confirm", "preferences", "unsubscribe"])
def test_a_tampered_link_gets_400_revealing_nothing(client, newsletter, path):
    subscribed(newsletter)
    response = client.get(reverse(f"subscribers:{path}", args=["eyJ0YW1wZXJlZCI6dHJ1ZX0:abc"]))
    assert response.status_code == 400
    page = response.content.decode()
    assert "This link does not work" in page
    assert "Kernel" not in page and "ada@example.org" not in page


def test_one_click_unsubscribe_works_with_no_cookie_or_csrf_token_and_is_idempotent(newsletter):
    subscriber, claim = subscribed(newsletter)
    url = reverse("subscribers:unsubscribe", args=[tokens.unsubscribe_token(claim)])
    raw = Client(enforce_csrf_checks=True)
    for _ in range(2):
        response = raw.post(
            url, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
        )
        assert response.status_code == 200
        assert not response.cookies
    assert Subscription.objects.get().status == SubscriptionStatus.UNSUBSCRIBED
    last = subscriber.consent_events.last()
    assert (last.action, last.source) == ("unsubscribed", "one_click")
    assert subscriber.consent_events.filter(action="unsubscribed").count() == 1


def test_unsubscribe_page_has_one_button(client, newsletter):
    _, claim = subscribed(newsletter)
    url = reverse("subscribers:unsubscribe", args=[tokens.unsubscribe_token(claim)])
    assert "<button" in client.get(url).content.decode()
    assert Subscription.objects.get().status == SubscriptionStatus.CONFIRMED
    done = client.post(url)
    assert "You are unsubscribed" in done.content.decode()
    assert Subscription.objects.get().status == SubscriptionStatus.UNSUBSCRIBED


def on_two_lists(newsletter):
    subscriber, claim = subscribed(newsletter)
    services.subscribe(
        newsletter=newsletter,
        email="ada@example.org",
        lists=list(newsletter.lists.filter(slug="announcements")),
        source=ConsentSource.FORM,
        wording="I agree.",
    )
    services.confirm(claim=claim)
    return subscriber, claim


def live_lists(subscriber) -> set[str]:
    return set(
        subscriber.subscriptions.filter(status=SubscriptionStatus.CONFIRMED).values_list(
            "mailing_list__slug", flat=True
        )
    )


def test_the_unsubscribe_page_from_one_lists_mail_offers_that_list_or_everything(
    client, newsletter
):
    subscriber, claim = on_two_lists(newsletter)
    releases = newsletter.lists.get(slug="releases")
    url = reverse("subscribers:unsubscribe", args=[tokens.unsubscribe_token(claim)])
    page = client.get(f"{url}?list={releases.pk}").content.decode()
    assert "Only “Releases”, the list this mail came from" in page
    assert "Everything from Kernel News" in page

    done = client.post(f"{url}?list={releases.pk}", {"scope": "list"})
    assert "no more mail from “Releases”" in done.content.decode()
    assert live_lists(subscriber) == {"announcements"}
    last = subscriber.consent_events.last()
    assert (last.action, last.source, last.mailing_list) == (
        "unsubscribed",
        "unsubscribe_page",
        releases,
    )

    client.post(f"{url}?list={releases.pk}", {"scope": "newsletter"})
    assert live_lists(subscriber) == set()


def test_the_list_in_an_unsubscribe_link_can_only_narrow_what_the_token_allows(client, newsletter):
    subscriber, claim = on_two_lists(newsletter)
    url = reverse("subscribers:unsubscribe", args=[tokens.unsubscribe_token(claim)])
    elsewhere = MailingListFactory()  # another newsletter's list: not offered, not touched
    staff = newsletter.lists.get(slug="staff")  # not one of hers
    for wanted in (elsewhere.pk, staff.pk, "x"):
        page = client.get(f"{url}?list={wanted}").content.decode()
        assert "the list this mail came from" not in page
        assert "Stop receiving Kernel News?" in page
    # One click from a mail provider leaves the whole newsletter, list or not.
    Client(enforce_csrf_checks=True).post(
        f"{url}?list={newsletter.lists.get(slug='releases').pk}",
        "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert live_lists(subscriber) == set()


def test_the_preference_center_has_one_language_choice(client, newsletter):
    _, claim = subscribed(newsletter)
    page = client.get(preferences_url(claim)).content.decode()
    assert page.count('name="language"') == 1
    assert "set_language" not in page and "/i18n/setlang/" not in page


@pytest.mark.parametrize("policy", ["individual", "aggregate", "off"])
def test_the_three_tracking_choices_are_offered_whatever_the_policy_with_its_note(
    client, newsletter, policy
):
    newsletter.tracking_policy = policy
    newsletter.save()
    subscriber, claim = subscribed(newsletter)
    page = client.get(preferences_url(claim)).content.decode()
    assert page.count('name="tracking"') == 3
    assert "Count my opens and clicks only in the totals, never as mine" in page
    assert "Do not track me at all: no tracking image and no rewritten links" in page
    assert "Privacy: this newsletter" in page
    response = client.post(preferences_url(claim), profile_form(tracking="aggregate"))
    assert "Your preferences are saved." in response.content.decode()
    subscriber.refresh_from_db()
    assert subscriber.tracking_opt_out and not subscriber.tracking_off


def preferences_url(claim):
    return reverse("subscribers:preferences", args=[tokens.preferences_token(claim)])


def profile_form(**overrides):
    data = {"action": "save_profile", "name": "", "language": "en"}
    data.update(tracking="newsletter", mail_format="html")
    data.update(overrides)
    return data


def newsletter_form(newsletter, **fields):
    data = {"action": "save_newsletter", "newsletter": str(newsletter.pk)}
    data.update({f"n{newsletter.pk}-{key}": value for key, value in fields.items()})
    return data


def test_preference_center_changes_lists_frequency_and_pause(client, newsletter):
    subscriber, claim = subscribed(newsletter)
    announcements = newsletter.lists.get(slug="announcements")
    releases = newsletter.lists.get(slug="releases")
    response = client.post(
        preferences_url(claim),
        newsletter_form(
            newsletter,
            lists=[str(announcements.pk)],
            **{f"frequency_{announcements.pk}": "weekly_digest"},
            pause="until",
            paused_until="2099-01-01",
        ),
    )
    assert "Your choices are saved." in response.content.decode()
    subscriber.refresh_from_db()
    assert subscriber.paused_until.date().isoformat() == "2099-01-01"
    assert not subscriber.paused_indefinitely
    statuses = dict(subscriber.subscriptions.values_list("mailing_list__slug", "status"))
    assert statuses == {"announcements": "confirmed", "releases": "unsubscribed"}
    assert subscriber.subscriptions.get(mailing_list=announcements).frequency == "weekly_digest"
    assert ledger.verify_chain(subscriber).valid
    # The page shows the choices as saved.
    page = client.get(preferences_url(claim)).content.decode()
    assert re.search(r'<option value="weekly_digest" selected>', page)
    assert 'value="2099-01-01"' in page
    # Until I come back: no date kept.
    client.post(
        preferences_url(claim),
        newsletter_form(newsletter, lists=[str(releases.pk)], pause="return"),
    )
    subscriber.refresh_from_db()
    assert subscriber.paused_indefinitely and subscriber.paused_until is None
    assert re.search(r'value="return"[^>]*checked', client.get(preferences_url(claim)).text)


def test_preference_center_changes_name_language_tracking_and_format(client, newsletter):
    subscriber, claim = subscribed(newsletter)
    response = client.post(
        preferences_url(claim),
        profile_form(name="Ada L.", language="fr", tracking="none", mail_format="text"),
    )
    assert response.status_code == 200
    subscriber.refresh_from_db()
    assert subscriber.name == "Ada L." and subscriber.language == "fr"
    assert subscriber.tracking_off and subscriber.tracking_opt_out
    assert subscriber.mail_format == "text"
    last = subscriber.consent_events.last()
    assert last.details["tracking"] == "none" and last.details["mail_format"] == "text"
    assert ledger.verify_chain(subscriber).valid


def test_a_pause_in_the_past_or_without_a_date_is_refused_with_a_reason(client, newsletter):
    subscriber, claim = subscribed(newsletter)
    for day, reason in (("2001-01-01", "Choose a date in the future."), ("", "Choose the date.")):
        response = client.post(
            preferences_url(claim), newsletter_form(newsletter, pause="until", paused_until=day)
        )
        assert response.status_code == 422
        assert reason in response.content.decode()
    subscriber.refresh_from_db()
    assert subscriber.paused_until is None
    assert subscriber.subscriptions.get().status == SubscriptionStatus.CONFIRMED


def data_link_from_the_outbox() -> str:
    mail = OutboxMessage.objects.filter(subject__startswith="Your data at").latest("pk")
    return re.search(r"http://127\.0\.0\.1:8000(/s/data/\S+/)", mail.body("plain")).group(1)


def ask_for_the_data_link(client, claim, django_capture_on_commit_callbacks) -> str:
    """Ask from the preference center; send the mail the queued task would send."""
    with django_capture_on_commit_callbacks() as callbacks:
        page = client.post(preferences_url(claim), {"action": "request_data"})
    assert "a link to your data is on its way" in page.content.decode()
    assert len(callbacks) == 1
    assert emails.send_data_link(subscriber_id=claim.subscriber_id)
    return data_link_from_the_outbox()


def test_the_preference_link_alone_can_neither_download_nor_erase(client, newsletter):
    """A forwarded newsletter's reader has the preference link: it must not give them
    the subscriber's data, nor let them destroy it."""
    subscriber, claim = subscribed(newsletter)
    for action in ("export", "erase"):
        response = client.post(preferences_url(claim), {"action": action, "confirm_erase": "yes"})
        assert response.status_code == 400
        assert "Content-Disposition" not in response
    subscriber.refresh_from_db()
    assert subscriber.email == "ada@example.org"
    assert Subscription.objects.get().status == SubscriptionStatus.CONFIRMED
    data_url = reverse("subscribers:data", args=[tokens.preferences_token(claim)])
    assert client.get(data_url).status_code == 400  # another purpose's token


def test_the_data_link_is_mailed_to_the_address_and_downloads_everything(
    client, newsletter, django_capture_on_commit_callbacks
):
    _, claim = subscribed(newsletter)
    other = MailingListFactory(name="Other news", newsletter__name="Other Project")
    services.subscribe(
        newsletter=other.newsletter,
        email="ada@example.org",
        lists=[other],
        source=ConsentSource.API,
        wording="Yes.",
        attestation="Asked at the booth",
    )
    link = ask_for_the_data_link(client, claim, django_capture_on_commit_callbacks)
    assert OutboxMessage.objects.latest("pk").recipients == ["ada@example.org"]
    page = client.get(link).content.decode()
    assert "Kernel News" in page and "Other Project" in page
    response = client.post(link, {"action": "export"})
    assert response["Content-Disposition"] == 'attachment; filename="my-data.json"'
    data = json.loads(response.content)
    assert data["email"] == "ada@example.org"
    by_newsletter = {each["newsletter"]: each for each in data["newsletters"]}
    assert set(by_newsletter) == {"Kernel News", "Other Project"}
    assert [event["action"] for event in by_newsletter["Kernel News"]["consent_history"]] == [
        "subscribed",
        "confirmed",
    ]


def test_the_data_link_works_for_one_hour(
    client, newsletter, monkeypatch, django_capture_on_commit_callbacks
):
    _, claim = subscribed(newsletter)
    two_hours_ago = time.time() - 2 * 3600
    monkeypatch.setattr(time, "time", lambda: two_hours_ago)
    link = ask_for_the_data_link(client, claim, django_capture_on_commit_callbacks)
    monkeypatch.undo()
    response = client.post(link, {"action": "erase", "confirm_erase": "yes"})
    assert response.status_code == 410
    assert "Links to your data work for one hour" in response.content.decode()
    assert Subscriber.objects.get().email == "ada@example.org"


def test_erasure_asks_once_more_then_erases_everywhere(
    client, newsletter, django_capture_on_commit_callbacks
):
    _, claim = subscribed(newsletter)
    other = MailingListFactory()
    services.subscribe(
        newsletter=other.newsletter,
        email="ada@example.org",
        lists=[other],
        source=ConsentSource.API,
        wording="Yes.",
        attestation="Asked at the booth",
    )
    link = ask_for_the_data_link(client, claim, django_capture_on_commit_callbacks)
    ask = client.post(link, {"action": "erase"})
    assert "Erase my data now" in ask.content.decode()
    assert not Subscriber.objects.filter(email=None).exists()
    done = client.post(link, {"action": "erase", "confirm_erase": "yes"})
    assert "Your data is erased" in done.content.decode()
    assert list(Subscriber.objects.values_list("email", "status")) == [(None, "erased")] * 2
    assert "Your data is erased" in client.get(preferences_url(claim)).content.decode()
    assert "Your data is erased" in client.get(link).content.decode()


def test_unsubscribe_from_every_list_of_this_newsletter(client, newsletter):
    _, claim = subscribed(newsletter)
    response = client.post(preferences_url(claim), {"action": "unsubscribe_all"})
    assert "You will receive no more mail from Kernel News" in response.content.decode()
    assert Suppression.objects.get().newsletter == newsletter


def test_stop_all_mail_from_the_data_page(client, newsletter, django_capture_on_commit_callbacks):
    _, claim = subscribed(newsletter)
    link = ask_for_the_data_link(client, claim, django_capture_on_commit_callbacks)
    response = client.post(link, {"action": "unsubscribe_all"})
    assert "no more mail from this server" in response.content.decode()
    assert Suppression.objects.get().instance_wide


def test_public_pages_speak_french_to_french_browsers(client, newsletter):
    page = client.get("/n/kernel/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert 'lang="fr"' in page
    assert "Adresse e-mail" in page
    assert "Vie privée" in page


def test_public_page_lists_the_public_archive_and_its_feed(client, newsletter):
    from campaigns.models import Status
    from tests.factories import CampaignFactory

    CampaignFactory(
        newsletter=newsletter,
        subject="Kernel 7.0 is out",
        public=True,
        status=Status.SENT,
        sent_at="2026-11-01T10:00:00Z",
    )
    CampaignFactory(
        newsletter=newsletter,
        subject="Private note",
        public=False,
        status=Status.SENT,
        sent_at="2026-11-02T10:00:00Z",
    )
    CampaignFactory(newsletter=newsletter, subject="Unsent draft", public=True)
    page = client.get("/n/kernel/").content.decode()
    assert "Kernel 7.0 is out" in page
    assert "Private note" not in page and "Unsent draft" not in page
    assert 'type="application/atom+xml"' in page
    assert "/n/kernel/feed.xml" in page
