"""Uncertain rows (a worker died while handing a message over) are shown on the campaign's
sending page and in the API, and settled by an explicit, recorded choice: resend to these
people, or count them as delivered. One service for both."""

import pytest
from django.urls import reverse
from django.utils import timezone

from api.services import issue_token
from campaigns.models import Status
from delivery import lifecycle
from delivery.models import Delivery, DeliveryStatus, UncertainSettlement
from delivery.progress import campaign_progress
from newsletter.models import Role
from subscribers import services as subscribers
from subscribers.models import ConsentSource, Subscriber
from tests.api.conftest import ApiClient
from tests.factories import CampaignFactory, MailingListFactory, MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(client):
    """A sent campaign to four people: two sent, two uncertain."""
    membership = MembershipFactory(role=Role.EDITOR, user__username="eddie")
    newsletter = membership.newsletter
    releases = MailingListFactory(newsletter=newsletter)
    campaign = CampaignFactory(newsletter=newsletter, status=Status.SENT, recipient_count=4)
    rows = []
    for n, status in enumerate(["sent", "sent", "uncertain", "uncertain"]):
        subscribers.subscribe(
            newsletter=newsletter,
            email=f"r{n}@example.org",
            lists=[releases],
            source=ConsentSource.DASHBOARD,
            wording="x",
            attestation="test",
        )
        rows.append(
            Delivery.objects.create(
                campaign=campaign,
                subscriber=Subscriber.objects.get(email=f"r{n}@example.org"),
                status=status,
                sent_at=timezone.now() if status == "sent" else None,
                last_error="Its worker stopped while handing it to the server."
                if status == "uncertain"
                else "",
            )
        )
    client.force_login(membership.user)
    client.membership = membership
    return client, campaign, rows


def url(name, campaign):
    return reverse(f"dashboard:{name}", args=[campaign.newsletter.slug, campaign.pk])


def statuses(campaign):
    return list(
        Delivery.objects.filter(campaign=campaign).order_by("pk").values_list("status", flat=True)
    )


def test_the_sending_page_shows_the_uncertain_people_and_the_choice(sent):
    client, campaign, rows = sent
    page = client.get(url("campaign_sending", campaign)).content.decode()
    assert "Uncertain: 2 people" in page
    assert "r2@example.org" in page and "r3@example.org" in page
    assert "Send to these people again" in page and "Count them as delivered" in page
    assert f'name="delivery" value="{rows[2].pk}"' in page


def test_a_viewer_sees_them_but_cannot_choose(sent, client):
    _, campaign, rows = sent
    viewer = MembershipFactory(newsletter=campaign.newsletter, role=Role.VIEWER)
    client.force_login(viewer.user)
    page = client.get(url("campaign_sending", campaign)).content.decode()
    assert "r2@example.org" in page
    assert "Send to these people again" not in page
    response = client.post(
        url("campaign_uncertain", campaign), {"choice": "resend", "delivery": [rows[2].pk]}
    )
    assert response.status_code == 403
    assert statuses(campaign) == ["sent", "sent", "uncertain", "uncertain"]


def test_resending_queues_them_again_restarts_the_campaign_and_is_recorded(
    sent, django_capture_on_commit_callbacks, monkeypatch
):
    client, campaign, rows = sent
    dispatched = []
    monkeypatch.setattr(lifecycle, "dispatch", dispatched.append)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url("campaign_uncertain", campaign),
            {"choice": "resend", "delivery": [rows[2].pk, rows[3].pk]},
            follow=True,
        )
    page = response.content.decode()
    assert "Send to these people again: 2 people." in page
    assert statuses(campaign) == ["sent", "sent", "queued", "queued"]
    campaign.refresh_from_db()
    assert campaign.status == Status.SENDING
    assert dispatched == [campaign.pk]
    settlement = UncertainSettlement.objects.get()
    assert settlement.choice == "resend"
    assert settlement.delivery_ids == [rows[2].pk, rows[3].pk]
    assert settlement.decided_by == client.membership.user
    assert settlement.actor == "eddie"
    assert "queued again by eddie" in Delivery.objects.get(pk=rows[2].pk).last_error
    assert "eddie: Send to these people again (2 people)" in page


def test_counting_them_as_delivered_counts_them_sent_for_the_ticked_ones_only(sent):
    client, campaign, rows = sent
    client.post(
        url("campaign_uncertain", campaign), {"choice": "count_as_sent", "delivery": [rows[3].pk]}
    )
    assert statuses(campaign) == ["sent", "sent", "uncertain", "sent"]
    progress = campaign_progress(campaign=campaign)
    assert (progress.sent, progress.uncertain) == (3, 1)
    campaign.refresh_from_db()
    assert campaign.status == Status.SENT
    [settlement] = UncertainSettlement.objects.all()
    assert (settlement.choice, settlement.delivery_ids) == ("count_as_sent", [rows[3].pk])


@pytest.mark.parametrize("which", ["sent row", "other campaign", "none ticked", "bad choice"])
def test_anything_but_this_campaigns_uncertain_rows_is_refused_and_nothing_changes(sent, which):
    client, campaign, rows = sent
    other = CampaignFactory(newsletter=campaign.newsletter, status=Status.SENT)
    foreign = Delivery.objects.create(
        campaign=other, subscriber=rows[0].subscriber, status=DeliveryStatus.UNCERTAIN
    )
    data = {
        "sent row": {"choice": "resend", "delivery": [rows[0].pk, rows[2].pk]},
        "other campaign": {"choice": "resend", "delivery": [foreign.pk]},
        "none ticked": {"choice": "resend"},
        "bad choice": {"choice": "forget", "delivery": [rows[2].pk]},
    }[which]
    page = client.post(url("campaign_uncertain", campaign), data, follow=True).content.decode()
    assert 'class="error"' in page
    assert statuses(campaign) == ["sent", "sent", "uncertain", "uncertain"]
    assert Delivery.objects.get(pk=foreign.pk).status == DeliveryStatus.UNCERTAIN
    assert not UncertainSettlement.objects.exists()


def test_a_cancelled_campaigns_rows_cannot_be_resent(sent):
    client, campaign, rows = sent
    campaign.status = Status.CANCELLED
    campaign.save()
    client.post(url("campaign_uncertain", campaign), {"choice": "resend", "delivery": [rows[2].pk]})
    assert statuses(campaign) == ["sent", "sent", "uncertain", "uncertain"]


def token(campaign, role):
    membership = MembershipFactory(
        newsletter=campaign.newsletter, role=role, user__username=f"bot-{role}"
    )
    return ApiClient(
        issue_token(user=membership.user, newsletter=campaign.newsletter, role=role)[1]
    )


def test_the_api_lists_them_and_settles_them_through_the_same_service(sent, redis_client):
    _, campaign, rows = sent
    api = token(campaign, Role.EDITOR)
    listed = api.get(f"/api/v1/campaigns/{campaign.pk}/uncertain/").json()
    assert [item["delivery"] for item in listed["items"]] == [rows[2].pk, rows[3].pk]
    assert listed["items"][0]["email"] == "r2@example.org"
    assert listed["settlements"] == []
    response = api.post(f"/api/v1/campaigns/{campaign.pk}/uncertain/", {"choice": "count_as_sent"})
    assert response.status_code == 200
    body = response.json()
    assert body["choice"] == "count_as_sent"
    assert body["deliveries"] == [rows[2].pk, rows[3].pk]
    assert body["actor"].startswith("bot-editor (API token ")
    assert statuses(campaign) == ["sent"] * 4
    again = api.get(f"/api/v1/campaigns/{campaign.pk}/uncertain/").json()
    assert again["items"] == [] and len(again["settlements"]) == 1
    nothing_left = api.post(f"/api/v1/campaigns/{campaign.pk}/uncertain/", {"choice": "resend"})
    assert nothing_left.status_code == 409


def test_a_viewer_token_reads_but_cannot_settle(sent, redis_client):
    _, campaign, rows = sent
    api = token(campaign, Role.VIEWER)
    assert api.get(f"/api/v1/campaigns/{campaign.pk}/uncertain/").status_code == 200
    response = api.post(
        f"/api/v1/campaigns/{campaign.pk}/uncertain/",
        {"choice": "resend", "deliveries": [rows[2].pk]},
    )
    assert response.status_code == 403
    assert statuses(campaign) == ["sent", "sent", "uncertain", "uncertain"]
