import re
import time

import pytest
from django.core import signing
from django.test import Client
from django.urls import reverse

from campaigns.models import Status
from delivery import ledger, sending
from delivery.models import Delivery
from subscribers import services as subscribers
from subscribers.models import ConsentSource
from tests.factories import (
    CampaignFactory,
    MailingListFactory,
    MembershipFactory,
    SubscriptionFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(client):
    membership = MembershipFactory(role="editor")
    newsletter = membership.newsletter
    releases = MailingListFactory(newsletter=newsletter, name="Releases")
    for n in range(3):
        subscribers.subscribe(
            newsletter=newsletter,
            email=f"r{n}@example.org",
            lists=[releases],
            source=ConsentSource.DASHBOARD,
            wording="x",
            attestation="test",
        )
    campaign = CampaignFactory(newsletter=newsletter)
    client.force_login(membership.user)
    return client, newsletter, releases, campaign


def url(name, campaign):
    return reverse(f"dashboard:{name}", args=[campaign.newsletter.slug, campaign.pk])


def test_the_send_page_counts_the_people_the_ticked_lists_reach(setup):
    client, _, releases, campaign = setup
    campaign.lists.set([releases])
    page = client.get(url("campaign_send", campaign)).content.decode()
    assert url("campaign_recipients", campaign) in page
    assert f'value="{releases.pk}"' in page and "checked" in page
    count = client.get(url("campaign_recipients", campaign), {"lists": [releases.pk]})
    assert "3 people receive it" in count.content.decode()


def test_the_count_ignores_lists_of_other_newsletters_and_unticked_lists(setup):
    client, _, _, campaign = setup
    elsewhere = MailingListFactory()
    subscribers.subscribe(
        newsletter=elsewhere.newsletter,
        email="other@example.org",
        lists=[elsewhere],
        source=ConsentSource.DASHBOARD,
        wording="x",
        attestation="test",
    )
    count = client.get(url("campaign_recipients", campaign), {"lists": [elsewhere.pk]})
    assert "0 people receive it" in count.content.decode()
    assert "0 people" in client.get(url("campaign_recipients", campaign)).content.decode()


def review(client, campaign, lists, action="send_now", **data):
    return client.post(
        url("campaign_send", campaign),
        {"lists": [str(lst.pk) for lst in lists], "action": action, **data},
    )


def confirmation_of(response) -> str:
    return re.search(r'name="confirmation" value="([^"]+)"', response.content.decode()).group(1)


def confirm(client, campaign, token):
    return client.post(url("campaign_send", campaign), {"action": "confirm", "confirmation": token})


def send_now(client, campaign, releases):
    return confirm(client, campaign, confirmation_of(review(client, campaign, [releases])))


def test_send_now_asks_for_confirmation_then_starts_the_campaign_for_the_chosen_lists(
    setup, django_capture_on_commit_callbacks
):
    client, newsletter, releases, campaign = setup
    shown = review(client, campaign, [releases])
    assert shown.status_code == 200
    page = shown.content.decode()
    assert "Check, then send" in page
    assert campaign.subject in page
    assert newsletter.sender.replace("<", "&lt;").replace(">", "&gt;") in page
    assert re.search(r'data-fact="lists">\s*Releases\s*<', page)
    assert "3 people, counted now" in page
    assert re.search(r'data-fact="when">\s*Now\s*<', page)
    assert "Send to 3 people now" in page
    campaign.refresh_from_db()
    assert campaign.status == Status.DRAFT and not Delivery.objects.exists()

    with django_capture_on_commit_callbacks() as callbacks:
        response = confirm(client, campaign, confirmation_of(shown))
    assert response["Location"] == url("campaign_sending", campaign)
    campaign.refresh_from_db()
    assert campaign.status == Status.SENDING
    assert list(campaign.lists.all()) == [releases]
    assert Delivery.objects.count() == 3
    assert len(callbacks) == 1


def test_no_request_sends_without_the_confirmation_the_editor_saw(setup):
    client, newsletter, releases, campaign = setup
    # The old one-step form, a script, a double click on a stale page: only a review.
    for action in ("send_now", "confirm", ""):
        response = client.post(
            url("campaign_send", campaign), {"lists": [str(releases.pk)], "action": action}
        )
        assert response.status_code in (200, 302)
    bad = {
        "forged": "not-a-token",
        "tampered": confirmation_of(review(client, campaign, [releases]))[:-2] + "xx",
        "another campaign's": confirmation_of(
            review(client, CampaignFactory(newsletter=newsletter), [releases])
        ),
    }
    other_editor = MembershipFactory(newsletter=newsletter, role="editor").user
    other = Client()
    other.force_login(other_editor)
    bad["another editor's"] = confirmation_of(review(other, campaign, [releases]))
    for kind, token in bad.items():
        response = confirm(client, campaign, token)
        assert response["Location"] == url("campaign_send", campaign), kind
    campaign.refresh_from_db()
    assert campaign.status == Status.DRAFT
    assert not Delivery.objects.exists()


def test_an_old_confirmation_no_longer_sends(setup, monkeypatch):
    client, _, releases, campaign = setup
    token = confirmation_of(review(client, campaign, [releases]))
    later = time.time() + 31 * 60
    monkeypatch.setattr(signing.time, "time", lambda: later)
    response = confirm(client, campaign, token)
    assert response["Location"] == url("campaign_send", campaign)
    follow = client.get(response["Location"]).content.decode()
    assert "This confirmation is too old or not valid" in follow
    assert not Delivery.objects.exists()


def test_send_now_is_off_when_nobody_would_receive_it(setup):
    client, newsletter, _, campaign = setup
    empty = MailingListFactory(newsletter=newsletter, name="Empty")
    campaign.lists.set([empty])
    page = client.get(url("campaign_send", campaign)).content.decode()
    assert re.search(r'<button type="submit" name="action" value="send_now" disabled', page)
    count = client.get(url("campaign_recipients", campaign), {"lists": [empty.pk]})
    assert 'value="send_now" disabled' in count.content.decode()
    response = review(client, campaign, [empty])
    assert response.status_code == 422
    assert "Nobody would receive it" in response.content.decode()
    assert "confirmation" not in response.content.decode()


def test_sending_without_a_list_is_explained(setup):
    client, _, _, campaign = setup
    response = client.post(url("campaign_send", campaign), {"action": "send_now"})
    assert response.status_code == 422
    assert "Choose at least one list." in response.content.decode()
    assert not Delivery.objects.exists()


def test_scheduling_needs_a_future_time_then_a_confirmation(setup):
    client, _, releases, campaign = setup
    missing = review(client, campaign, [releases], action="schedule")
    assert "Choose when to send it." in missing.content.decode()
    past = review(client, campaign, [releases], action="schedule", send_at="2001-01-01T10:00")
    assert "Choose a time in the future." in past.content.decode()
    shown = review(client, campaign, [releases], action="schedule", send_at="2099-01-01T10:00")
    page = shown.content.decode()
    assert "Check, then schedule" in page
    assert re.search(r'data-fact="when">\s*Jan. 1, 2099, 10 a.m. \(UTC\)', page)
    campaign.refresh_from_db()
    assert campaign.status == Status.DRAFT
    confirm(client, campaign, confirmation_of(shown))
    campaign.refresh_from_db()
    assert campaign.status == Status.SCHEDULED
    assert campaign.send_at.year == 2099


def test_progress_page_and_its_live_fragment(setup):
    client, _, releases, campaign = setup
    send_now(client, campaign, releases)
    page = client.get(url("campaign_sending", campaign)).content.decode()
    assert 'hx-trigger="every 2s"' in page
    assert "Sending to 3 people" in page
    fragment = client.get(url("campaign_sending", campaign), HTTP_HX_REQUEST="true")
    body = fragment.content.decode()
    assert '<td data-count="queued">3</td>' in body
    assert "<html" not in body


def test_a_finished_send_says_when_and_to_how_many_and_stops_asking(setup):
    client, _, releases, campaign = setup
    send_now(client, campaign, releases)
    while sending.send_batches(campaign_id=campaign.pk):
        pass
    campaign.refresh_from_db()
    assert campaign.status == Status.SENT
    page = client.get(url("campaign_sending", campaign)).content.decode()
    assert "Sending to" not in page
    sent_at = re.search(r"Sent at (.+?) to 3 people\.", page)
    assert sent_at, page
    assert 'hx-trigger="every 2s"' not in page  # nothing more will change
    assert "per second" in page and "Rate, over the last minute" not in page
    assert url("campaign_report", campaign) in page


def test_pause_and_resume_from_the_progress_page(setup):
    client, _, releases, campaign = setup
    send_now(client, campaign, releases)
    client.post(url("campaign_action", campaign), {"action": "pause"})
    campaign.refresh_from_db()
    assert campaign.status == Status.PAUSED
    client.post(url("campaign_action", campaign), {"action": "resume"})
    campaign.refresh_from_db()
    assert campaign.status == Status.SENDING


@pytest.mark.parametrize(("role", "status"), [("viewer", 403), ("editor", 200), ("owner", 200)])
def test_each_role_against_send_now(client, role, status):
    membership = MembershipFactory(role=role)
    releases = MailingListFactory(newsletter=membership.newsletter)
    SubscriptionFactory(mailing_list=releases)  # sending to nobody is refused
    campaign = CampaignFactory(newsletter=membership.newsletter)
    client.force_login(membership.user)
    response = review(client, campaign, [releases])
    assert response.status_code == status
    assert client.get(url("campaign_sending", campaign)).status_code == 200


def test_send_at_a_local_hour_is_confirmed_then_each_row_waits_for_it(setup):
    client, newsletter, releases, campaign = setup
    newsletter.timezone = "Asia/Tokyo"
    newsletter.save()
    assert "At 09:00 in each reader&#x27;s time zone" in (
        client.get(url("campaign_send", campaign)).content.decode()
    )
    shown = review(client, campaign, [releases], local_hour="9")
    page = shown.content.decode()
    assert re.search(r'data-fact="local-hour">\s*At 09:00 in each reader', page)
    assert "(Asia/Tokyo for those who gave none)" in page
    confirm(client, campaign, confirmation_of(shown))
    campaign.refresh_from_db()
    assert (campaign.status, campaign.local_hour) == (Status.SENDING, 9)
    waiting = client.get(url("campaign_sending", campaign)).content.decode()
    assert re.search(
        r"waiting for 9:00 in their time zone</th><td data-count=\"waiting\">3<", waiting
    )
    assert not ledger.claim(campaign_id=campaign.pk, size=10, worker="w")


def test_a_local_hour_outside_the_day_is_refused_by_name(setup):
    client, _, releases, campaign = setup
    response = review(client, campaign, [releases], local_hour="24")
    assert response.status_code == 422
    assert "Select a valid choice" in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.local_hour is None and campaign.status == Status.DRAFT
