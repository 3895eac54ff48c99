import pytest
from django.urls import reverse

from campaigns.models import Status
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


def test_send_now_starts_the_campaign_for_the_chosen_lists(
    setup, django_capture_on_commit_callbacks
):
    client, _, releases, campaign = setup
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(
            url("campaign_send", campaign), {"lists": [str(releases.pk)], "action": "send_now"}
        )
    assert response["Location"] == url("campaign_sending", campaign)
    campaign.refresh_from_db()
    assert campaign.status == Status.SENDING
    assert list(campaign.lists.all()) == [releases]
    assert Delivery.objects.count() == 3
    assert len(callbacks) == 1


def test_sending_without_a_list_is_explained(setup):
    client, _, _, campaign = setup
    response = client.post(url("campaign_send", campaign), {"action": "send_now"})
    assert response.status_code == 422
    assert "Choose at least one list." in response.content.decode()
    assert not Delivery.objects.exists()


def test_scheduling_needs_a_future_time(setup):
    client, _, releases, campaign = setup
    data = {"lists": [str(releases.pk)], "action": "schedule"}
    missing = client.post(url("campaign_send", campaign), data)
    assert "Choose when to send it." in missing.content.decode()
    past = client.post(url("campaign_send", campaign), {**data, "send_at": "2001-01-01T10:00"})
    assert "Choose a time in the future." in past.content.decode()
    client.post(url("campaign_send", campaign), {**data, "send_at": "2099-01-01T10:00"})
    campaign.refresh_from_db()
    assert campaign.status == Status.SCHEDULED
    assert campaign.send_at.year == 2099


def test_progress_page_and_its_live_fragment(setup):
    client, _, releases, campaign = setup
    campaign.lists.set([releases])
    client.post(url("campaign_send", campaign), {"lists": [str(releases.pk)], "action": "send_now"})
    page = client.get(url("campaign_sending", campaign)).content.decode()
    assert 'hx-trigger="every 2s"' in page
    fragment = client.get(url("campaign_sending", campaign), HTTP_HX_REQUEST="true")
    body = fragment.content.decode()
    assert '<td data-count="queued">3</td>' in body
    assert "<html" not in body


def test_pause_and_resume_from_the_progress_page(setup):
    client, _, releases, campaign = setup
    client.post(url("campaign_send", campaign), {"lists": [str(releases.pk)], "action": "send_now"})
    client.post(url("campaign_action", campaign), {"action": "pause"})
    campaign.refresh_from_db()
    assert campaign.status == Status.PAUSED
    client.post(url("campaign_action", campaign), {"action": "resume"})
    campaign.refresh_from_db()
    assert campaign.status == Status.SENDING


@pytest.mark.parametrize(("role", "status"), [("viewer", 403), ("editor", 302), ("owner", 302)])
def test_each_role_against_send_now(client, role, status):
    membership = MembershipFactory(role=role)
    releases = MailingListFactory(newsletter=membership.newsletter)
    SubscriptionFactory(mailing_list=releases)  # sending to nobody is refused
    campaign = CampaignFactory(newsletter=membership.newsletter)
    client.force_login(membership.user)
    response = client.post(
        url("campaign_send", campaign), {"lists": [str(releases.pk)], "action": "send_now"}
    )
    assert response.status_code == status
    assert client.get(url("campaign_sending", campaign)).status_code == 200
