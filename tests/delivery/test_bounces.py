"""VERP envelope senders for SMTP, and bounce mail read from a pipe or an IMAP mailbox."""

import io
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from campaigns.models import Status
from delivery import bounces, lifecycle, sending
from delivery.models import Delivery, DeliveryEvent, DeliveryStatus
from subscribers import services as subscribers
from subscribers import suppressions
from subscribers.models import ConsentSource, Subscriber, Suppression
from tests.factories import CampaignFactory, MailingListFactory, NewsletterFactory
from tests.imap_server import IMAPServer, Mailbox

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "bounces"
RECIPIENT = "ada@example.org"
BOUNCE_DOMAIN = "bounces.project.example.org"


@pytest.fixture(autouse=True)
def bounce_domain(settings):
    settings.BOUNCE_DOMAIN = BOUNCE_DOMAIN
    settings.BOUNCE_LOCAL_PART = "bounces"


@pytest.fixture
def newsletter():
    return NewsletterFactory()


@pytest.fixture
def mailing_list(newsletter):
    return MailingListFactory(newsletter=newsletter)


def subscribe(newsletter, mailing_list, email=RECIPIENT) -> Subscriber:
    subscribers.subscribe(
        newsletter=newsletter,
        email=email,
        lists=[mailing_list],
        source=ConsentSource.DASHBOARD,
        wording="I agree.",
        attestation="test",
        actor="t",
    )
    return Subscriber.objects.get(email=email)


@pytest.fixture
def delivery(newsletter, mailing_list) -> Delivery:
    person = subscribe(newsletter, mailing_list)
    campaign = CampaignFactory(newsletter=newsletter, status=Status.SENT)
    return Delivery.objects.create(
        campaign=campaign, subscriber=person, status=DeliveryStatus.SENT, sent_at=timezone.now()
    )


def bounce_mail(name: str, delivery: Delivery, verp: str = "") -> bytes:
    text = (FIXTURES / f"{name}.eml").read_text()
    text = text.replace("__VERP__", verp or bounces.verp_address(delivery.pk))
    return (
        text.replace("__RECIPIENT__", RECIPIENT).replace("__DELIVERY__", str(delivery.pk)).encode()
    )


def test_a_verp_address_names_its_delivery_and_cannot_be_forged(settings):
    address = bounces.verp_address(1234)
    local_part, domain = address.split("@")
    assert domain == BOUNCE_DOMAIN
    assert local_part.startswith("bounces+1234-")
    assert len(local_part) <= 64
    assert bounces.delivery_of(address) == 1234
    assert bounces.delivery_of(address.upper()) == 1234
    assert bounces.delivery_of(f"<{address}>") == 1234
    assert bounces.delivery_of(address.replace("1234-", "1235-")) is None
    mac = local_part.rsplit("-", 1)[1]
    assert bounces.delivery_of(address.replace(mac, "0" * len(mac))) is None
    assert bounces.delivery_of(address.replace(BOUNCE_DOMAIN, "example.net")) is None
    settings.BOUNCE_DOMAIN = ""
    assert bounces.verp_address(1234) == ""
    assert bounces.delivery_of(address) is None


def test_smtp_campaign_mail_leaves_with_its_verp_envelope_sender(
    newsletter, mailing_list, smtp_sink
):
    subscribe(newsletter, mailing_list)
    campaign = CampaignFactory(newsletter=newsletter)
    campaign.lists.set([mailing_list])
    lifecycle.campaign_start(campaign=campaign)
    while sending.send_batches(campaign_id=campaign.pk):
        pass
    row = Delivery.objects.get()
    [received] = smtp_sink.handler.received
    assert received.sender == bounces.verp_address(row.pk)
    assert bounces.delivery_of(received.sender) == row.pk


def test_without_a_bounce_domain_the_envelope_sender_is_the_newsletters(
    newsletter, mailing_list, smtp_sink, settings
):
    settings.BOUNCE_DOMAIN = ""
    subscribe(newsletter, mailing_list)
    campaign = CampaignFactory(newsletter=newsletter)
    campaign.lists.set([mailing_list])
    lifecycle.campaign_start(campaign=campaign)
    while sending.send_batches(campaign_id=campaign.pk):
        pass
    [received] = smtp_sink.handler.received
    assert received.sender == newsletter.from_email


def test_a_failed_dsn_is_a_hard_bounce_recorded_once(delivery):
    raw = bounce_mail("postfix_failed", delivery)
    outcome = bounces.process_message(raw)
    assert outcome == bounces.BounceOutcome("hard", delivery.pk)
    delivery.refresh_from_db()
    assert delivery.bounce_type == "hard"
    # A bounce of mail that was sent, proven by its VERP address: every newsletter stops.
    assert Suppression.objects.get().instance_wide
    assert Suppression.objects.get().reason == "hard_bounce"
    event = DeliveryEvent.objects.get()
    assert (event.esp, event.kind) == ("smtp", "bounced")
    assert "5.1.1" in event.detail
    assert RECIPIENT not in event.detail

    assert bounces.process_message(raw).verdict == "duplicate"
    assert DeliveryEvent.objects.count() == 1


def test_a_delayed_dsn_is_a_soft_bounce(delivery):
    assert bounces.process_message(bounce_mail("postfix_delayed", delivery)).verdict == "soft"
    delivery.refresh_from_db()
    assert delivery.bounce_type == "soft"
    assert not Suppression.objects.exists()


def test_an_auto_reply_to_the_bounce_address_is_not_a_bounce(delivery):
    assert bounces.process_message(bounce_mail("auto_reply", delivery)).verdict == "not_a_bounce"
    assert not DeliveryEvent.objects.exists()
    assert not Suppression.objects.exists()


def test_a_bounce_to_a_forged_address_changes_nothing(delivery):
    forged = f"bounces+{delivery.pk}-0123456789abcdef@{BOUNCE_DOMAIN}"
    raw = bounce_mail("postfix_failed", delivery, verp=forged)
    assert bounces.process_message(raw).verdict == "unknown_address"
    assert not DeliveryEvent.objects.exists()
    assert not Suppression.objects.exists()


def test_the_envelope_recipient_from_the_mail_server_is_enough(delivery):
    raw = bounce_mail("postfix_failed", delivery, verp="bounces@project.example.org")
    verp = bounces.verp_address(delivery.pk)
    assert bounces.process_message(raw, envelope_recipient=verp).verdict == "hard"


@pytest.fixture
def mailbox(settings):
    """The bounce mailbox on a local IMAP server, as CRIER_BOUNCE_IMAP_* name it."""
    mailbox = Mailbox(user="bounces", password="secret")
    with IMAPServer(mailbox) as server:
        settings.BOUNCE_IMAP_HOST = "127.0.0.1"
        settings.BOUNCE_IMAP_PORT = server.port
        settings.BOUNCE_IMAP_SSL = False
        settings.BOUNCE_IMAP_USER = "bounces"
        settings.BOUNCE_IMAP_PASSWORD = "secret"
        yield mailbox


def run_command(monkeypatch, raw: bytes, *args) -> str:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw)))
    out = io.StringIO()
    call_command("process_bounces", *args, stdout=out)
    return out.getvalue()


def test_the_command_reads_one_message_from_a_pipe(monkeypatch, delivery):
    output = run_command(monkeypatch, bounce_mail("postfix_failed", delivery))
    assert output.strip() == f"hard (delivery {delivery.pk})"
    newsletter = delivery.campaign.newsletter
    assert suppressions.reasons(RECIPIENT, newsletter) == {"hard_bounce"}
    with pytest.raises(CommandError):
        run_command(monkeypatch, b"")


def test_the_command_polls_an_imap_mailbox(delivery, mailbox):
    mailbox.messages = {
        1: bounce_mail("postfix_failed", delivery),
        2: bounce_mail("auto_reply", delivery),
    }
    out = io.StringIO()
    call_command("process_bounces", "--imap", stdout=out)
    assert out.getvalue().strip() == "1 bounces recorded, 1 other messages"
    # The bounce is gone; the auto-reply stays, read, for a person to see.
    assert list(mailbox.messages) == [2]
    assert "\\Seen" in mailbox.flags[2]
    assert bounces.poll_imap().recorded == 0
    delivery.refresh_from_db()
    assert delivery.bounce_type == "hard"


def test_a_message_the_detectors_trip_on_does_not_block_the_mailbox(delivery, mailbox, monkeypatch):
    def trip(message):
        raise IndexError("a detector met an unforeseen shape")

    monkeypatch.setattr(bounces, "all_failures", trip)
    mailbox.messages = {1: bounce_mail("postfix_failed", delivery)}
    report = bounces.poll_imap()
    assert (report.recorded, report.ignored) == (0, 1)
    assert "\\Seen" in mailbox.flags[1]
    assert not Suppression.objects.exists()
