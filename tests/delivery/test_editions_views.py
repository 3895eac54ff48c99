"""Editions on the send page, the campaign's page and the report."""

import pytest

from campaigns import services as campaigns
from delivery import lifecycle
from subscribers import services as subscribers
from subscribers.models import ConsentSource, Subscriber
from tests.delivery.test_editions import send_all
from tests.delivery.test_views import confirmation_of, review, url
from tests.factories import CampaignFactory, MailingListFactory, MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(client):
    """An editor, three confirmed readers of Releases, the first of them French."""
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
    Subscriber.objects.filter(email="r0@example.org").update(language="fr")
    campaign = CampaignFactory(newsletter=newsletter)
    campaign.lists.set([releases])
    client.force_login(membership.user)
    return client, releases, campaign


def test_a_pending_translation_is_the_one_reason_on_the_page_and_the_send_review(setup):
    client, releases, campaign = setup
    campaigns.edition_create(campaign=campaign, language="fr", subject="Sortie", body="Bonjour.")
    reason = "Translations still pending: French (1 reader)."

    page = client.get(url("campaign_preview", campaign)).content.decode()
    assert reason in page
    refused = review(client, campaign, [releases])
    assert reason in refused.content.decode() and 'name="confirmation"' not in (
        refused.content.decode()
    )

    campaigns.campaign_update(campaign=campaign, edition_fallback=True)
    shown = review(client, campaign, [releases]).content.decode()
    assert "French, translation pending: its 1 reader gets the English edition" in shown
    assert confirmation_of(review(client, campaign, [releases]))


def test_the_report_splits_by_edition(setup):
    client, _, campaign = setup
    campaigns.edition_create(
        campaign=campaign, language="fr", subject="Sortie", body="Bonjour.", status="ready"
    )
    lifecycle.campaign_start(campaign=campaign)
    send_all(campaign)
    page = client.get(url("campaign_report", campaign)).content.decode()
    assert "By edition" in page
    rows = {
        language: page.split(f'data-edition="{language}"')[1].split("</tr>")[0]
        for language in ("en", "fr")
    }
    assert "<td>2</td><td>2</td><td>0</td>" in rows["en"]
    assert "<td>1</td><td>1</td><td>0</td>" in rows["fr"]
