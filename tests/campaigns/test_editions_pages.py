"""Editions in the dashboard (editor, preview, live preview), the public archive and the feed."""

import xml.etree.ElementTree as ET

import pytest
from django.urls import reverse

from campaigns import services
from campaigns.models import EditionStatus, Status
from newsletter.models import Role
from tests.factories import CampaignFactory, MembershipFactory

pytestmark = pytest.mark.django_db
ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def editor(client):
    membership = MembershipFactory(role=Role.EDITOR)
    client.force_login(membership.user)
    client.newsletter = membership.newsletter
    return client


def url(name, newsletter, *args):
    return reverse(f"dashboard:{name}", args=[newsletter.slug, *args])


def test_an_editor_adds_a_french_edition_from_the_campaign_editor(editor):
    campaign = CampaignFactory(newsletter=editor.newsletter)
    page = editor.get(url("campaign_edit", editor.newsletter, campaign.pk)).content.decode()
    assert "Editions in other languages" in page
    assert url("edition_create", editor.newsletter, campaign.pk) in page

    response = editor.post(
        url("edition_create", editor.newsletter, campaign.pk),
        {
            "language": "fr",
            "status": "pending",
            "subject": "La 2.0 est sortie",
            "preheader": "",
            "body": "Bonjour {{ subscriber.name }}.",
        },
        follow=True,
    )
    page = response.content.decode()
    assert "The French edition is saved." in page
    assert 'data-edition="fr"' in page and "translation pending" in page
    assert 'data-flag="no-readers"' in page  # nobody on its (no) lists reads French
    edition = campaign.editions.get()
    assert edition.language == "fr" and edition.status == EditionStatus.PENDING


def test_a_french_editor_reads_the_campaign_and_edition_fields_in_french(editor):
    campaign = CampaignFactory(newsletter=editor.newsletter)
    campaign_page = editor.get(
        url("campaign_edit", editor.newsletter, campaign.pk), HTTP_ACCEPT_LANGUAGE="fr"
    ).content.decode()
    edition_page = editor.get(
        url("edition_create", editor.newsletter, campaign.pk), HTTP_ACCEPT_LANGUAGE="fr"
    ).content.decode()
    for field, label in [("subject", "Sujet"), ("preheader", "Texte d’aperçu"), ("body", "Corps")]:
        assert f'<label for="id_{field}">{label}</label>' in campaign_page
        assert f'<label for="id_{field}">{label}</label>' in edition_page
    assert '<label for="id_body_format">Format du corps</label>' in campaign_page


def test_an_edition_with_an_error_is_shown_again_with_the_line_and_not_saved(editor):
    campaign = CampaignFactory(newsletter=editor.newsletter)
    response = editor.post(
        url("edition_create", editor.newsletter, campaign.pk),
        {
            "language": "de",
            "status": "ready",
            "subject": "Neu",
            "body": "Hallo.\n\n{% if list nirgendwo %}\nx\n{% endif %}",
        },
    )
    assert response.status_code == 422
    page = response.content.decode()
    assert "line 3:" in page and "nirgendwo" in page
    assert not campaign.editions.exists()


def test_the_preview_shows_each_edition_and_its_html(editor):
    campaign = CampaignFactory(newsletter=editor.newsletter, subject="Out now")
    services.edition_create(
        campaign=campaign, language="fr", subject="Sortie", body="Bonjour.", status="ready"
    )
    preview = url("campaign_preview", editor.newsletter, campaign.pk)
    page = editor.get(preview, {"edition": "fr"}).content.decode()
    assert 'hreflang="fr" aria-current="page"' in page
    assert ">Sortie</dd>" in page
    html = editor.get(
        url("campaign_preview_html", editor.newsletter, campaign.pk), {"edition": "fr"}
    )
    assert "Bonjour." in html.content.decode()
    assert editor.get(preview, {"edition": "de"}).status_code == 404


def test_editing_and_removing_an_edition(editor):
    campaign = CampaignFactory(newsletter=editor.newsletter)
    services.edition_create(campaign=campaign, language="fr", subject="Sortie", body="Bonjour.")
    edit = url("edition_edit", editor.newsletter, campaign.pk, "fr")
    editor.post(edit, {"status": "ready", "subject": "Sortie !", "body": "Bonjour."})
    edition = campaign.editions.get()
    assert edition.is_ready and edition.subject == "Sortie !" and edition.language == "fr"
    editor.post(edit, {"action": "delete"})
    assert not campaign.editions.exists()


def test_another_newsletters_editor_cannot_reach_an_edition(editor):
    campaign = CampaignFactory()
    services.edition_create(campaign=campaign, language="fr", subject="Sortie", body="Bonjour.")
    response = editor.get(
        reverse("dashboard:edition_edit", args=[campaign.newsletter.slug, campaign.pk, "fr"])
    )
    assert response.status_code in (403, 404)


@pytest.fixture
def sent_with_french():
    campaign = CampaignFactory(
        subject="Release 2.0", body="Hello.", public=True, slug="release-2-0"
    )
    services.edition_create(
        campaign=campaign, language="fr", subject="Version 2.0", body="Bonjour.", status="ready"
    )
    services.edition_create(campaign=campaign, language="de", subject="V 2.0", body="Hallo.")
    campaign.status, campaign.sent_at = Status.SENT, "2026-11-01T09:00Z"
    campaign.save()
    return campaign


def test_the_archive_shows_each_edition_with_hreflang_links(client, sent_with_french, settings):
    settings.SITE_URL = "https://news.example.org"
    english = client.get(sent_with_french.get_public_url()).content.decode()
    french_url = sent_with_french.get_public_url() + "fr/"
    assert f'<link rel="alternate" hreflang="fr" href="https://news.example.org{french_url}">' in (
        english
    )
    assert 'hreflang="de"' not in english  # a pending edition never went out
    assert "Hello." in english
    french = client.get(french_url).content.decode()
    assert '<html lang="fr">' in french and "Bonjour." in french and "<title>Version 2.0" in french
    assert 'hreflang="en"' in french
    assert client.get(sent_with_french.get_public_url() + "de/").status_code == 404


def test_the_feed_links_each_edition_with_its_language(client, sent_with_french, settings):
    settings.SITE_URL = "https://news.example.org"
    newsletter = sent_with_french.newsletter
    feed = ET.fromstring(client.get(f"/n/{newsletter.slug}/feed.xml").content)  # noqa: S314
    (entry,) = feed.findall(f"{ATOM}entry")
    links = {
        link.get("hreflang"): link.get("href")
        for link in entry.findall(f"{ATOM}link")
        if link.get("hreflang")
    }
    base = "https://news.example.org" + sent_with_french.get_public_url()
    assert links == {"en": base, "fr": base + "fr/"}
