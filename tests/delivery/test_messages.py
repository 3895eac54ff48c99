import base64
from email import message_from_bytes, policy

import pytest
from django.core import signing

from campaigns.services import campaign_render
from delivery.messages import Addressee, CampaignMessages
from tests.factories import CampaignFactory, NewsletterFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def messages(settings):
    settings.SITE_URL = "https://news.example.org"
    newsletter = NewsletterFactory(name="Lettre d’été", from_name="Équipe Démo", slug="ete")
    campaign = CampaignFactory(
        newsletter=newsletter,
        subject="Nouveautés pour {{ subscriber.name }}",
        body="Bonjour {{ subscriber.name }} ! " + "Très long paragraphe. " * 200,
        public=True,
    )
    return CampaignMessages(campaign, campaign_render(campaign=campaign))


ADA = Addressee(41, 7, "ada@example.org", "Ada <Lovelace> & co", {}, "Releases")


def test_the_raw_message_is_the_django_message_byte_for_meaning(messages, monkeypatch):
    # Both builds sign the same links: one clock, so their timestamps agree.
    monkeypatch.setattr(signing.time, "time", lambda: 1_800_000_000.0)
    raw = message_from_bytes(messages.build_raw(ADA), policy=policy.default)
    django = message_from_bytes(
        messages.build(ADA).message().as_bytes(linesep="\r\n"), policy=policy.default
    )
    for header in (
        "Subject",
        "From",
        "To",
        "Message-ID",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
        "List-Id",
        "Feedback-ID",
        "Precedence",
    ):
        assert str(raw[header]).strip() == str(django[header]).strip(), header
    assert raw["Subject"] == "Nouveautés pour Ada <Lovelace> & co"
    assert raw["From"] == "Équipe Démo <" + messages.campaign.newsletter.from_email + ">"
    for subtype in ("plain", "html"):
        assert raw.get_body((subtype,)).get_content() == django.get_body((subtype,)).get_content()
    assert "Ada &lt;Lovelace&gt; &amp; co" in raw.get_body(("html",)).get_content()


def test_the_raw_message_keeps_smtp_line_limits(messages):
    raw = messages.build_raw(ADA)
    lines = raw.split(b"\r\n")
    assert all(len(line) <= 998 for line in lines)
    body_start = lines.index(b"")
    assert all(len(line) <= 76 for line in lines[body_start:])
    assert b"\n" not in raw.replace(b"\r\n", b"")


def test_an_internationalised_address_falls_back_to_the_email_package(messages):
    raw = messages.build_raw(Addressee(42, 8, "zoë@example.org", "Zoë", {}, "Releases"))
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["To"] == "zoë@example.org"


def test_campaign_mail_is_dkim_signed_when_a_key_is_configured(settings, tmp_path, messages):
    import subprocess

    import dkim

    key = tmp_path / "dkim.pem"
    subprocess.run(
        ["openssl", "genrsa", "-traditional", "-out", str(key), "1024"],
        check=True,
        capture_output=True,
    )
    public = subprocess.run(
        ["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    settings.DKIM_DOMAIN, settings.DKIM_SELECTOR = "news.example.org", "crier"
    settings.DKIM_PRIVATE_KEY_FILE = str(key)
    signed = CampaignMessages(messages.campaign, messages.rendered).build_raw(ADA)
    assert signed.startswith(b"DKIM-Signature: v=1; a=rsa-sha256;")

    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
    assert dkim.verify(signed, dnsfunc=lambda name, timeout=5: record)
    tampered = signed.replace(b"Nouveaut", b"Nouvelle", 1)
    assert not dkim.verify(tampered, dnsfunc=lambda name, timeout=5: record)


def test_without_a_dkim_key_nothing_is_signed(messages):
    assert not messages.build_raw(ADA).startswith(b"DKIM-Signature")


def test_the_unsubscribe_link_names_the_list_the_mail_came_through(messages):
    through_releases = Addressee(41, 7, "ada@example.org", "Ada", {}, "Releases", list_id=12)
    for built in (
        message_from_bytes(messages.build_raw(through_releases), policy=policy.default),
        message_from_bytes(
            messages.build(through_releases).message().as_bytes(), policy=policy.default
        ),
    ):
        header = str(built["List-Unsubscribe"])
        assert "/s/unsubscribe/" in header and f"/?c={messages.campaign.pk}&list=12>" in header
        html = built.get_body(("html",)).get_content()
        assert f"/?c={messages.campaign.pk}&amp;list=12" in html
