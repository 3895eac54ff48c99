"""CRIER_UNSUBSCRIBE_MAILTO: each message offers its own mailto: address, and mail to it,
from a pipe or an IMAP mailbox, unsubscribes exactly that recipient from that newsletter."""

import io
from email.message import EmailMessage

import pytest
from django.core.checks import run_checks
from django.core.management import call_command

from delivery import lifecycle, sending, unsubscribe_mail
from delivery.models import Delivery, OutboxMessage
from subscribers import services as subscribers
from subscribers.models import ConsentEvent, ConsentSource, Subscription
from tests.factories import CampaignFactory, MailingListFactory, NewsletterFactory
from tests.imap_server import IMAPServer, Mailbox

pytestmark = pytest.mark.django_db
MAILTO = "unsubscribe@lists.example.org"


@pytest.fixture
def sent(settings):
    """A campaign of one newsletter sent to Ada and Grace; Ada is also on another's list."""
    settings.UNSUBSCRIBE_MAILTO = MAILTO
    newsletter = NewsletterFactory(slug="kernel")
    releases = MailingListFactory(newsletter=newsletter, slug="releases")
    security = MailingListFactory(newsletter=newsletter, slug="security")
    elsewhere = MailingListFactory(slug="elsewhere")
    for email in ("ada@example.org", "grace@example.org"):
        subscribe(newsletter, [releases, security], email)
    subscribe(elsewhere.newsletter, [elsewhere], "ada@example.org")
    campaign = CampaignFactory(newsletter=newsletter)
    campaign.lists.set([releases])
    lifecycle.campaign_start(campaign=campaign)
    while sending.send_batches(campaign_id=campaign.pk):
        pass
    return campaign


def subscribe(newsletter, lists, email):
    subscribers.subscribe(
        newsletter=newsletter,
        email=email,
        lists=lists,
        source=ConsentSource.DASHBOARD,
        wording="x",
        attestation="test",
    )


def mailto_of(email: str) -> str:
    header = OutboxMessage.objects.get(recipients=[email]).parsed()["List-Unsubscribe"]
    targets = [target.strip().strip("<>") for target in str(header).split(",")]
    assert targets[0].startswith("http"), "the HTTPS one-click target comes first"
    (mailto,) = [target for target in targets if target.startswith("mailto:")]
    address, _, query = mailto.removeprefix("mailto:").partition("?")
    assert query == "subject=unsubscribe"
    return address


def request(to: str, *, header: str = "To") -> bytes:
    message = EmailMessage()
    message["From"] = "Ada <ada@example.org>"
    message[header] = to
    message["Subject"] = "unsubscribe"
    message["Message-ID"] = f"<{to}.request@example.org>"
    message.set_content("Please unsubscribe me.")
    return message.as_bytes()


def states(email: str) -> dict[str, str]:
    return dict(
        Subscription.objects.filter(subscriber__email=email).values_list(
            "mailing_list__slug", "status"
        )
    )


def test_each_message_offers_its_own_signed_address(sent):
    ada, grace = mailto_of("ada@example.org"), mailto_of("grace@example.org")
    assert ada != grace
    delivery = Delivery.objects.get(subscriber__email="ada@example.org")
    assert ada.startswith(f"unsubscribe+{delivery.pk}-") and ada.endswith("@lists.example.org")
    assert unsubscribe_mail.delivery_of(ada) == delivery.pk


def test_mail_to_it_unsubscribes_that_recipient_from_that_newsletter_only(sent):
    outcome = unsubscribe_mail.process_message(request(mailto_of("ada@example.org")))
    assert outcome.verdict == "unsubscribed"
    assert states("ada@example.org") == {
        "releases": "unsubscribed",
        "security": "unsubscribed",
        "elsewhere": "confirmed",
    }
    assert set(states("grace@example.org").values()) == {"confirmed"}
    events = ConsentEvent.objects.filter(subscriber__email="ada@example.org", action="unsubscribed")
    assert {event.source for event in events} == {ConsentSource.MAIL}
    assert {event.mailing_list.slug for event in events} == {"releases", "security"}

    again = unsubscribe_mail.process_message(request(mailto_of("ada@example.org")))
    assert again.verdict == "already_unsubscribed"
    assert ConsentEvent.objects.filter(source=ConsentSource.MAIL).count() == 2


@pytest.mark.parametrize("header", ["Delivered-To", "X-Original-To", "Cc"])
def test_the_address_is_found_in_the_headers_servers_write(sent, header):
    raw = request(mailto_of("grace@example.org"), header=header)
    assert unsubscribe_mail.process_message(raw).verdict == "unsubscribed"
    assert states("grace@example.org")["releases"] == "unsubscribed"


@pytest.mark.parametrize(
    "address",
    [
        MAILTO,
        "unsubscribe+1-0000000000000000@lists.example.org",
        "unsubscribe+{id}-0123456789abcdef@lists.example.org",
        "unsubscribe+{id}-{mac}@elsewhere.example.org",
        "bounces+{id}-{mac}@lists.example.org",
    ],
)
def test_mail_to_any_other_address_changes_nothing(sent, address):
    real = mailto_of("ada@example.org")
    delivery_id, mac = real.split("+")[1].split("@")[0].split("-")
    forged = address.format(id=delivery_id, mac=mac)
    assert unsubscribe_mail.process_message(request(forged)).verdict == "unknown_address"
    assert set(states("ada@example.org").values()) == {"confirmed"}


def test_the_pipe_command_takes_the_envelope_recipient(sent, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(request("x@example.org"))))
    out = io.StringIO()
    call_command("process_unsubscribes", "--recipient", mailto_of("ada@example.org"), stdout=out)
    delivery = Delivery.objects.get(subscriber__email="ada@example.org")
    assert out.getvalue().strip() == f"unsubscribed (delivery {delivery.pk})"


def test_the_imap_mailbox_is_polled_and_handled_requests_deleted(sent, settings):
    mailbox = Mailbox(user="unsub", password="secret")
    mailbox.messages = {
        1: request(mailto_of("ada@example.org")),
        2: request("someone@example.org"),
    }
    with IMAPServer(mailbox) as server:
        settings.UNSUBSCRIBE_IMAP_HOST = "127.0.0.1"
        settings.UNSUBSCRIBE_IMAP_PORT = server.port
        settings.UNSUBSCRIBE_IMAP_SSL = False
        settings.UNSUBSCRIBE_IMAP_USER = "unsub"
        settings.UNSUBSCRIBE_IMAP_PASSWORD = "secret"
        out = io.StringIO()
        call_command("process_unsubscribes", "--imap", stdout=out)
    assert out.getvalue().strip() == "1 unsubscribe requests handled, 1 other messages"
    assert list(mailbox.messages) == [2]  # the stranger's mail stays, read, for a person
    assert "\\Seen" in mailbox.flags[2]
    assert states("ada@example.org")["releases"] == "unsubscribed"


def test_without_the_setting_no_message_offers_mail_unsubscribe(settings):
    settings.UNSUBSCRIBE_MAILTO = ""
    newsletter = NewsletterFactory()
    releases = MailingListFactory(newsletter=newsletter)
    subscribe(newsletter, [releases], "ada@example.org")
    campaign = CampaignFactory(newsletter=newsletter)
    campaign.lists.set([releases])
    lifecycle.campaign_start(campaign=campaign)
    sending.send_batches(campaign_id=campaign.pk)
    header = OutboxMessage.objects.get().parsed()["List-Unsubscribe"]
    assert "mailto:" not in str(header)


@pytest.mark.parametrize("value", ["unsubscribe", "@example.org", "unsub+x@example.org"])
def test_a_setting_that_is_not_a_plain_address_is_an_error_and_offers_nothing(settings, value):
    settings.UNSUBSCRIBE_MAILTO = value
    assert "crier.E001" in {message.id for message in run_checks()}
    assert unsubscribe_mail.mailto_address(1) == ""
    newsletter = NewsletterFactory()
    releases = MailingListFactory(newsletter=newsletter)
    subscribe(newsletter, [releases], "ada@example.org")
    campaign = CampaignFactory(newsletter=newsletter)
    campaign.lists.set([releases])
    lifecycle.campaign_start(campaign=campaign)
    sending.send_batches(campaign_id=campaign.pk)
    assert "mailto:" not in str(OutboxMessage.objects.get().parsed()["List-Unsubscribe"])
