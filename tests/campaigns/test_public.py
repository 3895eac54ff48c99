"""The public archive and its Atom feed."""

import xml.etree.ElementTree as ET

import pytest
from django.urls import reverse

from campaigns.models import Status
from tests.factories import CampaignFactory, NewsletterFactory

pytestmark = pytest.mark.django_db
ATOM = "{http://www.w3.org/2005/Atom}"


def sent(**kwargs):
    defaults = {"status": Status.SENT, "public": True, "sent_at": "2026-11-01T09:00Z"}
    return CampaignFactory(**{**defaults, **kwargs})


def test_a_sent_public_campaign_has_a_web_version(client):
    campaign = sent(body='Hello {{ subscriber.name|default:"reader" }} ({{ subscriber.email }})')
    response = client.get(campaign.get_public_url())
    assert response.status_code == 200
    page = response.content.decode()
    assert "<title>Project 2.0 is out" in page
    assert "Hello reader ()" in page
    assert "<script" not in page
    policy = response["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy


@pytest.mark.parametrize(
    "kwargs",
    [
        {"status": Status.DRAFT, "public": True, "sent_at": None},
        {"status": Status.SENT, "public": False, "sent_at": "2026-11-01T09:00Z"},
        {"status": Status.SENDING, "public": True, "sent_at": None},
    ],
)
def test_drafts_private_and_unsent_campaigns_are_not_found(client, kwargs):
    campaign = CampaignFactory(**kwargs)
    assert client.get(campaign.get_public_url()).status_code == 404


def test_the_archive_url_needs_the_right_newsletter(client):
    campaign = sent()
    other = NewsletterFactory()
    url = reverse("campaigns:archive", kwargs={"newsletter": other.slug, "campaign": campaign.slug})
    assert client.get(url).status_code == 404


def test_the_feed_is_atom_with_the_public_archive_only(client):
    newsletter = NewsletterFactory(name="Demo News")
    first = sent(newsletter=newsletter, subject="First", sent_at="2026-10-01T09:00Z")
    second = sent(newsletter=newsletter, subject="Second & more", sent_at="2026-11-01T09:00Z")
    sent(newsletter=newsletter, subject="Private", public=False)
    CampaignFactory(newsletter=newsletter, subject="Draft")

    response = client.get(reverse("campaigns:feed", kwargs={"newsletter": newsletter.slug}))
    assert response["Content-Type"].startswith("application/atom+xml")
    feed = ET.fromstring(response.content)  # noqa: S314 (our own output)
    assert feed.tag == f"{ATOM}feed"
    # RFC 4287 §4.1.1: a feed has id, title and updated, and an author for its entries.
    for required in ("id", "title", "updated", "author"):
        assert feed.find(f"{ATOM}{required}") is not None, required
    assert feed.find(f"{ATOM}title").text == "Demo News"
    entries = feed.findall(f"{ATOM}entry")
    assert [entry.find(f"{ATOM}title").text for entry in entries] == ["Second & more", "First"]
    for entry in entries:
        for required in ("id", "title", "updated", "link"):
            assert entry.find(f"{ATOM}{required}") is not None, required
    links = [entry.find(f"{ATOM}link").get("href") for entry in entries]
    assert links[0].endswith(second.get_public_url())
    assert links[1].endswith(first.get_public_url())


def test_the_feed_of_an_unknown_newsletter_is_not_found(client):
    assert client.get("/n/nope/feed.xml").status_code == 404
