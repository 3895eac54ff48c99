"""What each reader's own choices do to the mail they get: no tracking at all, plain text
only, a pause until they come back; asserted on the bytes that leave the server."""

import json
import re
from datetime import timedelta
from email import message_from_bytes, policy

import pytest
from django.utils import timezone

from campaigns import services as campaigns
from campaigns.models import EditionStatus
from delivery import audience, lifecycle, sending, sending_backends
from delivery.models import BackendKind, Delivery, DeliveryStatus
from subscribers import services as subscribers
from subscribers.models import ConsentSource, Subscriber
from tests.factories import CampaignFactory, MailingListFactory, NewsletterFactory
from tests.fake_esp import FakeESP

pytestmark = pytest.mark.django_db

SITE = "https://news.example.org"


@pytest.fixture
def newsletter(settings):
    settings.SITE_URL = SITE
    return NewsletterFactory(slug="kernel", tracking_policy="individual")


@pytest.fixture
def campaign(newsletter):
    releases = MailingListFactory(newsletter=newsletter, slug="releases")
    for name, choices in (
        ("ada", {}),
        ("grace", {"tracking_off": True, "tracking_opt_out": True}),
        ("linus", {"mail_format": "text"}),
        ("ken", {"tracking_opt_out": True}),
    ):
        subscribers.subscribe(
            newsletter=newsletter,
            email=f"{name}@example.org",
            name=name.title(),
            lists=[releases],
            source=ConsentSource.DASHBOARD,
            wording="I agree.",
            attestation="test",
        )
        Subscriber.objects.filter(email=f"{name}@example.org").update(**choices)
    campaign = CampaignFactory(
        newsletter=newsletter,
        subject="News",
        body="Hello {{ subscriber.name }}, read [the notes](https://example.org/notes).",
    )
    campaign.lists.set([releases])
    return campaign


def send_all(campaign):
    lifecycle.campaign_start(campaign=campaign)
    while sending.send_batches(campaign_id=campaign.pk):
        pass


def unfolded(raw: bytes) -> bytes:
    """The raw message with quoted-printable soft line breaks removed (URLs are whole)."""
    return raw.replace(b"=\r\n", b"")


def test_over_smtp_each_reader_gets_the_copy_they_chose(campaign, smtp_sink):
    send_all(campaign)
    raw = {message.recipients[0]: message.data for message in smtp_sink.handler.received}
    assert set(raw) == {
        "ada@example.org",
        "grace@example.org",
        "linus@example.org",
        "ken@example.org",
    }

    # Counted as the newsletter says: a pixel and tracked links.
    assert b"/t/o/" in unfolded(raw["ada@example.org"])
    assert b"/t/c/" in unfolded(raw["ada@example.org"])
    # Aggregate only: still the newsletter's links, with no reader part.
    assert b"/t/c/" in unfolded(raw["ken@example.org"])
    # Not tracked at all: no pixel, no rewritten link, the link as written.
    grace = unfolded(raw["grace@example.org"])
    assert b"/t/" not in grace
    assert b'href=3D"https://example.org/notes"' in grace
    parsed = message_from_bytes(raw["grace@example.org"], policy=policy.default)
    assert "Hello Grace" in parsed.get_body(("html",)).get_content()
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # Plain text only: one text/plain part, no HTML anywhere.
    linus = message_from_bytes(raw["linus@example.org"], policy=policy.default)
    assert linus.get_content_type() == "text/plain"
    assert not linus.is_multipart()
    assert b"text/html" not in raw["linus@example.org"]
    assert b"<html" not in unfolded(raw["linus@example.org"]).lower()
    assert "Hello Linus" in linus.get_content()
    assert "https://example.org/notes" in linus.get_content()
    assert linus["List-Unsubscribe"] and linus["Message-ID"]
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.SENT}


def test_through_an_esp_batch_the_different_copies_go_in_their_own_calls(
    newsletter, campaign, settings
):
    settings.SENDING_ALLOW_PRIVATE_HOSTS = True
    with FakeESP() as esp:
        sending_backends.sending_backend_save(
            newsletter=newsletter,
            values={
                "kind": BackendKind.MAILGUN,
                "active": True,
                "api_url": f"{esp.url}v3/",
                "sender_domain": "mg.example.org",
                "batch_size": 10,
            },
            new_secrets={"api_key": "key-mailgun"},
        )
        send_all(campaign)
    calls = [request.form() for request in esp.requests]
    by_recipients = {tuple(sorted(form["to"])): form for form in calls}
    assert set(by_recipients) == {
        ("ada@example.org", "ken@example.org"),
        ("grace@example.org",),
        ("linus@example.org",),
    }
    grace = by_recipients[("grace@example.org",)]
    assert "/t/" not in grace["html"][0] and "https://example.org/notes" in grace["html"][0]
    linus = by_recipients[("linus@example.org",)]
    assert "html" not in linus and "Hello Linus" in linus["text"][0]
    shared = by_recipients[("ada@example.org", "ken@example.org")]
    variables = json.loads(shared["recipient-variables"][0])
    assert set(variables) == {"ada@example.org", "ken@example.org"}
    assert re.search(r"/t/c/", shared["html"][0])
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.SENT}
    assert Delivery.objects.count() == 4


def test_a_pause_until_i_come_back_leaves_the_reader_out_until_they_end_it(campaign):
    Subscriber.objects.filter(email="ada@example.org").update(paused_indefinitely=True)
    Subscriber.objects.filter(email="ken@example.org").update(
        paused_until=timezone.now() + timedelta(days=3)
    )
    assert audience.audience_count(list_ids=campaign.lists.values_list("pk", flat=True)) == 2
    lifecycle.campaign_start(campaign=campaign)
    assert set(Delivery.objects.values_list("subscriber__email", flat=True)) == {
        "grace@example.org",
        "linus@example.org",
    }


def test_a_reader_who_pauses_after_the_campaign_started_is_skipped(campaign, smtp_sink):
    lifecycle.campaign_start(campaign=campaign)
    Subscriber.objects.filter(email="ada@example.org").update(paused_indefinitely=True)
    while sending.send_batches(campaign_id=campaign.pk):
        pass
    assert "ada@example.org" not in smtp_sink.handler.recipients()
    ada = Delivery.objects.get(subscriber__email="ada@example.org")
    assert ada.status == DeliveryStatus.SKIPPED


def test_in_another_edition_the_readers_choices_hold_too(newsletter, campaign, smtp_sink):
    campaigns.edition_create(
        campaign=campaign,
        language="fr",
        subject="Nouvelles",
        body="Bonjour {{ subscriber.name }}, lisez [les notes](https://example.org/notes).",
        status=EditionStatus.READY,
    )
    Subscriber.objects.filter(email__in=["grace@example.org", "linus@example.org"]).update(
        language="fr"
    )
    send_all(campaign)
    raw = {message.recipients[0]: message.data for message in smtp_sink.handler.received}
    grace = message_from_bytes(raw["grace@example.org"], policy=policy.default)
    assert grace["Subject"] == "Nouvelles"
    assert "Bonjour Grace" in grace.get_body(("html",)).get_content()
    assert b"/t/" not in unfolded(raw["grace@example.org"])
    linus = message_from_bytes(raw["linus@example.org"], policy=policy.default)
    assert linus.get_content_type() == "text/plain" and "Bonjour Linus" in linus.get_content()
    assert b"/t/o/" in unfolded(raw["ada@example.org"])
