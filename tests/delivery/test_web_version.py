"""“View in your browser”: every reader of a campaign that is not public gets a signed
link to their own copy; nobody else can open it, and public campaigns keep the archive."""

import re

import pytest
from django.test import Client

from campaigns import reader_links
from delivery import lifecycle, sending
from delivery.models import OutboxMessage
from newsletter.models import TrackingPolicy
from subscribers import personal_data, tokens
from subscribers import services as subscribers
from subscribers.models import ConsentSource, Subscriber
from tests.factories import CampaignFactory, MailingListFactory, NewsletterFactory

pytestmark = pytest.mark.django_db
SITE = "https://news.example.org"


@pytest.fixture
def setup(settings):
    settings.SITE_URL = SITE
    newsletter = NewsletterFactory(
        slug="kernel", name="Kernel News", tracking_policy=TrackingPolicy.INDIVIDUAL
    )
    releases = MailingListFactory(newsletter=newsletter, slug="releases", name="Releases")
    for email, name in (("ada@example.org", "Ada"), ("grace@example.org", "Grace")):
        subscribers.subscribe(
            newsletter=newsletter,
            email=email,
            name=name,
            lists=[releases],
            source=ConsentSource.DASHBOARD,
            wording="x",
            attestation="test",
        )
    return newsletter, releases


def send(newsletter, releases, **kwargs):
    campaign = CampaignFactory(
        newsletter=newsletter,
        slug="members-only",
        body="Hello {{ subscriber.name }} of {{ list.name }}. [Read more](https://example.org/more)",
        **kwargs,
    )
    campaign.lists.set([releases])
    lifecycle.campaign_start(campaign=campaign)
    while sending.send_batches(campaign_id=campaign.pk):
        pass
    campaign.refresh_from_db()
    return campaign


def web_link(email: str) -> str:
    html = OutboxMessage.objects.get(recipients=[email]).body("html")
    found = re.search(r'href="([^"]+)"[^>]*>View in your browser', html)
    assert found, "the layout's footer offers a web version"
    return found[1].replace("&amp;", "&")


def test_each_reader_of_a_private_campaign_gets_a_link_to_their_own_copy(setup):
    newsletter, releases = setup
    campaign = send(newsletter, releases, public=False)
    ada, grace = web_link("ada@example.org"), web_link("grace@example.org")
    assert ada != grace
    assert ada.startswith(f"{SITE}/n/kernel/archive/members-only/r/")
    text = OutboxMessage.objects.get(recipients=["ada@example.org"]).body("plain")
    assert ada in text

    response = Client().get(ada.removeprefix(SITE))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Hello Ada of Releases." in page
    assert "Grace" not in page
    # Their own unsubscribe link, which works; no tracking of any kind.
    person = Subscriber.objects.get(email="ada@example.org")
    claim = tokens.Claim(person.pk, newsletter.pk)
    assert f"/s/unsubscribe/{tokens.unsubscribe_token(claim)}/" in page
    assert "/t/" not in page
    assert 'href="https://example.org/more"' in page
    assert response["X-Robots-Tag"] == "noindex, nofollow"
    assert "no-store" in response["Cache-Control"]
    assert "script-src" not in response["Content-Security-Policy"]
    # The public archive still knows nothing of it.
    assert Client().get(campaign.get_public_url()).status_code == 404


@pytest.mark.parametrize(
    "tamper",
    [
        lambda token: token[:-1] + ("0" if token[-1] != "0" else "1"),
        lambda token: "1" + token,
        lambda token: token.split("-")[0],
        lambda token: "abc-" + token.split("-")[1],
        lambda token: "",
    ],
)
def test_a_forged_or_altered_link_opens_nothing(setup, tamper):
    newsletter, releases = setup
    send(newsletter, releases, public=False)
    link = web_link("ada@example.org").removeprefix(SITE)
    token = link.rstrip("/").rsplit("/", 1)[1]
    forged = link.replace(f"/{token}/", f"/{tamper(token)}/")
    assert Client().get(forged).status_code == 404


def test_a_readers_link_opens_only_the_campaign_it_was_made_for(setup):
    newsletter, releases = setup
    campaign = send(newsletter, releases, public=False)
    other = CampaignFactory(newsletter=newsletter, slug="draft-next", public=False)
    ada = Subscriber.objects.get(email="ada@example.org")
    token = reader_links.reader_token(campaign.pk, ada.pk)
    base = "/n/kernel/archive"
    assert Client().get(f"{base}/{campaign.slug}/r/{token}/").status_code == 200
    assert Client().get(f"{base}/{other.slug}/r/{token}/").status_code == 404
    # A campaign that never left has no reader copies, even with a valid token.
    own = reader_links.reader_token(other.pk, ada.pk)
    assert Client().get(f"{base}/{other.slug}/r/{own}/").status_code == 404
    # Nor does another newsletter's page serve it.
    stranger = NewsletterFactory(slug="elsewhere")
    assert Client().get(f"/n/{stranger.slug}/archive/{campaign.slug}/r/{token}/").status_code == 404


def test_an_erased_readers_copy_is_gone(setup):
    newsletter, releases = setup
    send(newsletter, releases, public=False)
    link = web_link("ada@example.org").removeprefix(SITE)
    ada = Subscriber.objects.get(email="ada@example.org")
    personal_data.erase(claim=tokens.Claim(ada.pk, newsletter.pk), source=ConsentSource.DASHBOARD)
    assert Client().get(link).status_code == 404


def test_a_public_campaign_links_every_reader_to_the_shared_archive_page(setup):
    newsletter, releases = setup
    campaign = send(newsletter, releases, public=True)
    assert web_link("ada@example.org") == f"{SITE}{campaign.get_public_url()}"
    assert web_link("grace@example.org") == f"{SITE}{campaign.get_public_url()}"
