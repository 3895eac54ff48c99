"""The public archive and its Atom feed."""

import re
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


def test_the_web_version_reads_for_nobody_in_particular_without_the_mail_only_parts(client):
    campaign = sent(
        body=(
            "Hello {{ subscriber.name }},\n\nProject 2.0 is out.\n\n"
            "Not for you? [Leave this list]({{ unsubscribe_url }}).\n"
        )
    )
    page = client.get(campaign.get_public_url()).content.decode()
    assert "Hello," in page and "Hello ," not in page
    assert "Project 2.0 is out." in page
    # The footer's links, the sentence about why this mail came, a body line that only
    # makes sense in a mailbox: all left out.
    for mail_only in (
        "Unsubscribe",
        "Manage your preferences",
        "View in your browser",
        "You receive this email because",
        "Leave this list",
        "/s/unsubscribe/",
    ):
        assert mail_only not in page, mail_only
    assert campaign.newsletter.postal_address.splitlines()[0] in page


def test_the_web_version_uses_the_defaults_of_its_merge_tags(client):
    campaign = sent(body='Hello {{ subscriber.name|default:"reader" }}, welcome.')
    assert "Hello reader, welcome." in client.get(campaign.get_public_url()).content.decode()


def archive_index(newsletter, **params):
    return reverse("campaigns:archive_index", kwargs={"newsletter": newsletter.slug}) + (
        "?" + "&".join(f"{key}={value}" for key, value in params.items()) if params else ""
    )


def test_the_archive_index_lists_every_public_issue_newest_first_by_pages(client):
    newsletter = NewsletterFactory(slug="demo")
    for day in range(1, 26):
        sent(newsletter=newsletter, subject=f"Issue {day}", sent_at=f"2026-10-{day:02d}T09:00Z")
    sent(newsletter=newsletter, subject="Not public", public=False)
    CampaignFactory(newsletter=newsletter, subject="A draft")

    assert archive_index(newsletter) == "/n/demo/archive/"
    first = client.get(archive_index(newsletter))
    assert first.status_code == 200
    subjects = re.findall(r'<a href="/n/demo/archive/[^"]+">([^<]+)</a>', first.content.decode())
    assert subjects == [f"Issue {day}" for day in range(25, 5, -1)]
    assert "Page 1 of 2" in first.content.decode()
    second = client.get(archive_index(newsletter, page=2)).content.decode()
    subjects = re.findall(r'<a href="/n/demo/archive/[^"]+">([^<]+)</a>', second)
    assert subjects == [f"Issue {day}" for day in range(5, 0, -1)]
    assert "Not public" not in first.content.decode() + second
    assert "A draft" not in first.content.decode() + second


def test_the_archive_index_searches_subjects_and_text(client):
    newsletter = NewsletterFactory(slug="demo")
    sent(newsletter=newsletter, subject="Release 2.0", body="Plugins arrive.")
    sent(newsletter=newsletter, subject="Meetup in Lyon", body="Come and meet the plugin team.")
    sent(newsletter=newsletter, subject="Release 2.1", body="Bug fixes.")
    sent(newsletter=newsletter, subject="Secret plugins", public=False)

    page = client.get(archive_index(newsletter, q="PLUGIN")).content.decode()
    subjects = re.findall(r'<a href="/n/demo/archive/[^"]+">([^<]+)</a>', page)
    assert sorted(subjects) == ["Meetup in Lyon", "Release 2.0"]
    assert "2 issues contain “PLUGIN”" in page
    page = client.get(archive_index(newsletter, q="release fixes")).content.decode()
    assert re.findall(r'<a href="/n/demo/archive/[^"]+">([^<]+)</a>', page) == ["Release 2.1"]


def test_the_archive_index_of_an_unknown_newsletter_is_not_found(client):
    assert client.get("/n/nope/archive/").status_code == 404
