"""Referrals and forwarding: each reader's link in the mail and the preference center,
attribution once confirmed, thanks at milestones, a forward page that carries nothing
of the reader's but their referral code."""

import re

import pytest
from django.urls import reverse

from delivery.models import OutboxMessage
from participation import emails, tasks
from participation.models import ParticipationSettings, Referral, ReferrerProfile
from participation.services import referrals
from subscribers import personal_data, tokens
from subscribers import services as subscriber_services
from subscribers.models import ConsentSource, Subscriber
from tests.factories import CampaignFactory, MembershipFactory

from .conftest import mail_of, reader, send

pytestmark = pytest.mark.django_db

BODY = "Like it? [Share your link]({{ referral_url }}) or [forward this issue]({{ forward_url }})."


def code_of(subscriber, newsletter) -> str:
    return tokens.referral_code(tokens.Claim(subscriber.pk, newsletter.pk))


def test_each_reader_gets_their_own_referral_and_forward_links(newsletter, news):
    ada = reader(newsletter, "ada@example.org")
    grace = reader(newsletter, "grace@example.org")
    campaign = CampaignFactory(newsletter=newsletter, body=BODY, public=True)
    send(campaign, [news])
    for person in (ada, grace):
        html = mail_of(campaign, person.email).body("html")
        code = code_of(person, newsletter)
        assert f'href="https://news.example.org/n/demo/?ref={code}"' in html
        assert f'href="https://news.example.org/n/demo/forward/{campaign.slug}/?ref={code}"' in html
        assert person.email not in html.split("Share your link")[0].split("<body")[-1]


def subscribe_through(client, newsletter, code, email="newcomer@example.org", **extra):
    return client.post(
        reverse("subscribers:subscribe", args=[newsletter.slug]),
        {"email": email, "lists": ["news"], "consent": "on", "ref": code, **extra},
    )


def test_a_subscription_through_a_link_counts_once_confirmed(client, newsletter, news):
    ada = reader(newsletter, "ada@example.org")
    subscribe_through(client, newsletter, code_of(ada, newsletter))
    referral = Referral.objects.get()
    assert (referral.referrer, referral.referred.email) == (ada, "newcomer@example.org")
    assert referral.confirmed_at is None
    newcomer = Subscriber.objects.with_address("newcomer@example.org").get()
    subscriber_services.confirm(claim=tokens.Claim(newcomer.pk, newsletter.pk))
    referral.refresh_from_db()
    assert referral.confirmed_at is not None
    # A second link, or the same person again, brings nobody new.
    grace = reader(newsletter, "grace@example.org")
    subscribe_through(client, newsletter, code_of(grace, newsletter))
    assert Referral.objects.count() == 1


def test_thanks_go_out_at_1_5_and_25_when_the_newsletter_wants_them(
    client, newsletter, news, monkeypatch
):
    queued = []
    monkeypatch.setattr(
        tasks.send_referral_thanks, "delay_on_commit", lambda *args: queued.append(args)
    )
    ada = reader(newsletter, "ada@example.org")
    ParticipationSettings.objects.create(newsletter=newsletter, referral_thanks=True)
    news.opt_in = "single"
    news.save()
    for number in range(6):
        subscribe_through(client, newsletter, code_of(ada, newsletter), f"n{number}@example.org")
    profile = ReferrerProfile.objects.get(subscriber=ada)
    assert queued == [(profile.pk, 1), (profile.pk, 5)]
    assert not emails.send_referral_thanks(profile_id=profile.pk, milestone=1)  # passed already
    assert emails.send_referral_thanks(profile_id=profile.pk, milestone=5)
    thanks = OutboxMessage.objects.get(recipients=["ada@example.org"])
    assert thanks.subject == "Thank you for sharing Demo News"
    assert "5 people subscribed to Demo News through your link." in thanks.body("plain")
    assert "n1@example.org" not in thanks.body("plain")


def test_without_the_setting_nobody_is_thanked(client, newsletter, news):
    ada = reader(newsletter, "ada@example.org")
    news.opt_in = "single"
    news.save()
    subscribe_through(client, newsletter, code_of(ada, newsletter))
    assert Referral.objects.get().confirmed_at is not None
    assert not ReferrerProfile.objects.exists()


def test_the_preference_center_shows_the_link_and_the_choice_to_be_shown(client, newsletter, news):
    ada = reader(newsletter, "ada@example.org")
    token = tokens.preferences_token(tokens.Claim(ada.pk, newsletter.pk))
    page = client.get(f"/s/prefs/{token}/").content.decode()
    assert f"https://news.example.org/n/demo/?ref={code_of(ada, newsletter)}" in page
    assert "0 people subscribed through your link." in page
    response = client.post(f"/n/demo/referrals/{token}/", {"show_publicly": "on"})
    assert response.status_code == 422 and "give the name to show" in response.content.decode()
    response = client.post(
        f"/n/demo/referrals/{token}/", {"show_publicly": "on", "display_name": "Ada L."}
    )
    assert response.status_code == 302
    profile = ReferrerProfile.objects.get(subscriber=ada)
    assert (profile.show_publicly, profile.display_name) == (True, "Ada L.")
    assert client.post("/n/demo/referrals/forged/", {}).status_code == 400


def test_the_dashboard_shows_referrals_over_time_and_only_readers_who_agreed(
    client, newsletter, news
):
    news.opt_in = "single"
    news.save()
    ada = reader(newsletter, "ada@example.org")
    grace = reader(newsletter, "grace@example.org")
    for number in range(3):
        subscribe_through(client, newsletter, code_of(ada, newsletter), f"a{number}@example.org")
    subscribe_through(client, newsletter, code_of(grace, newsletter), "g@example.org")
    referrals.referrer_profile_update(
        newsletter=newsletter, subscriber=ada, show_publicly=True, display_name="Ada L."
    )
    client.force_login(MembershipFactory(newsletter=newsletter, role="viewer").user)
    page = client.get("/dashboard/n/demo/participation/referrals/").content.decode()
    assert '<strong data-count="confirmed">4</strong>' in page
    assert "Ada L.</a>: 3 people" in page
    assert "grace@example.org" not in page and "ada@example.org" not in page
    assert 'data-chart="referrals-data"' in page


def test_the_forward_page_sends_nothing_and_shows_nothing_of_the_reader(client, newsletter, news):
    ada = reader(newsletter, "ada@example.org")
    campaign = CampaignFactory(newsletter=newsletter, body=BODY, public=True)
    send(campaign, [news])
    forward = (
        re.search(
            r'href="https://news.example.org(/n/demo/forward/[^"]+)"',
            mail_of(campaign, ada.email).body("html"),
        )
        .group(1)
        .replace("&amp;", "&")
    )
    sent_before = OutboxMessage.objects.count()
    page = client.get(forward)
    html = page.content.decode()
    assert page.status_code == 200
    assert f'href="/n/demo/archive/{campaign.slug}/"' in html
    assert f'name="ref" value="{code_of(ada, newsletter)}"' in html
    claim = tokens.Claim(ada.pk, newsletter.pk)
    for secret in (tokens.unsubscribe_token(claim), tokens.preferences_token(claim), ada.email):
        assert secret not in html
    assert "/s/" not in html
    assert OutboxMessage.objects.count() == sent_before
    # A friend subscribing there is brought by Ada.
    subscribe_through(client, newsletter, code_of(ada, newsletter), "friend@example.org")
    assert Referral.objects.get().referrer == ada
    assert client.get("/n/demo/forward/no-such-issue/").status_code == 404


def test_erasure_forgets_the_referrer_s_choices(client, newsletter, news):
    ada = reader(newsletter, "ada@example.org")
    referrals.referrer_profile_update(
        newsletter=newsletter, subscriber=ada, show_publicly=True, display_name="Ada L."
    )
    exported = personal_data.export_person(ada)["newsletters"][0]["participation"]["referrals"]
    assert exported[0]["display_name"] == "Ada L."
    personal_data.erase(claim=tokens.Claim(ada.pk, newsletter.pk), source=ConsentSource.DASHBOARD)
    assert not ReferrerProfile.objects.exists()
