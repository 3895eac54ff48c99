"""The raw SMTP transmitter's exactly-once order around each message
(``RawSmtp`` in delivery/sending/transmit.py)."""

import pytest
from django.core.mail.backends.smtp import EmailBackend

from delivery import ledger, lifecycle, sending
from delivery.models import Delivery, DeliveryStatus
from subscribers import services as subscribers
from subscribers.models import ConsentSource
from tests.factories import CampaignFactory, MailingListFactory, NewsletterFactory
from tests.smtp_sink import DyingSMTPServer, SMTPSink

pytestmark = pytest.mark.django_db

READERS = [f"r{n}@example.org" for n in range(4)]


@pytest.fixture
def campaign():
    newsletter = NewsletterFactory(slug="kernel")
    releases = MailingListFactory(newsletter=newsletter, slug="releases")
    for email in READERS:
        subscribers.subscribe(
            newsletter=newsletter,
            email=email,
            lists=[releases],
            source=ConsentSource.DASHBOARD,
            wording="I agree.",
            attestation="test",
            actor="t",
        )
    campaign = CampaignFactory(newsletter=newsletter, subject="Kernel 7.0 is out")
    campaign.lists.set([releases])
    lifecycle.campaign_start(campaign=campaign)
    return campaign


def smtp_to(settings, port: int) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_TIMEOUT = 10


def statuses() -> dict[str, str]:
    return dict(Delivery.objects.values_list("subscriber__email", "status"))


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelining", "lockstep"])
def test_each_reader_gets_one_message_over_either_kind_of_server(campaign, settings, pipelining):
    with SMTPSink(pipelining=pipelining) as sink:
        smtp_to(settings, sink.port)
        while sending.send_batches(campaign_id=campaign.pk):
            pass

    assert sorted(sink.handler.recipients()) == READERS
    assert set(statuses().values()) == {DeliveryStatus.SENT}
    assert all(message.data.count(b"Kernel 7.0 is out") for message in sink.handler.received)


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelining", "lockstep"])
def test_a_row_taken_away_after_its_envelope_was_written_is_not_delivered(
    campaign, settings, monkeypatch, pipelining
):
    stolen = Delivery.objects.order_by("id")[1]
    take_off = ledger.Flight.take_off

    def sweeper_was_faster(flight, delivery_id):
        if delivery_id == stolen.pk:  # its lease ran out and another worker claimed it
            Delivery.objects.filter(pk=stolen.pk).update(worker="another")
        return take_off(flight, delivery_id)

    monkeypatch.setattr(ledger.Flight, "take_off", sweeper_was_faster)
    with SMTPSink(pipelining=pipelining) as sink:
        smtp_to(settings, sink.port)
        sending.send_batches(campaign_id=campaign.pk)

    # Its transaction was abandoned (RSET, or a closed connection once the server said
    # 354); the others went out, the one after it on a fresh connection if need be.
    assert sorted(sink.handler.recipients()) == sorted(set(READERS) - {stolen.subscriber.email})
    assert statuses()[stolen.subscriber.email] == DeliveryStatus.CLAIMED


def test_a_connection_lost_after_the_data_leaves_that_row_uncertain_and_resends_nothing(
    campaign, settings
):
    server = DyingSMTPServer(after_data=True)
    smtp_to(settings, server.port)
    try:
        sending.send_batches(campaign_id=campaign.pk)
    finally:
        server.close()

    first = Delivery.objects.order_by("id").first()
    first.refresh_from_db()
    assert first.status == DeliveryStatus.UNCERTAIN
    assert first.last_error.startswith("No answer from the server (SMTPOutcomeUnknown)")
    # Nothing else was handed over: the rest waits, queued, for a new connection.
    others = Delivery.objects.exclude(pk=first.pk)
    assert set(others.values_list("status", flat=True)) == {DeliveryStatus.QUEUED}


def test_a_connection_lost_before_the_data_queues_the_row_again(campaign, settings):
    server = DyingSMTPServer(after_data=False)
    smtp_to(settings, server.port)
    try:
        sending.send_batches(campaign_id=campaign.pk)
    finally:
        server.close()

    first = Delivery.objects.order_by("id").first()
    first.refresh_from_db()
    assert first.status == DeliveryStatus.QUEUED
    assert first.next_attempt_at is not None


def test_when_no_new_connection_opens_after_an_abandon_the_rest_stays_queued(
    campaign, settings, monkeypatch
):
    stolen = Delivery.objects.order_by("id")[1]
    take_off = ledger.Flight.take_off

    def sweeper_was_faster(flight, delivery_id):
        if delivery_id == stolen.pk:
            Delivery.objects.filter(pk=stolen.pk).update(worker="another")
        return take_off(flight, delivery_id)

    opened = []
    open_connection = EmailBackend.open

    def open_once(backend):
        if opened:
            raise ConnectionRefusedError("the relay went away")
        opened.append(backend)
        return open_connection(backend)

    monkeypatch.setattr(ledger.Flight, "take_off", sweeper_was_faster)
    monkeypatch.setattr(EmailBackend, "open", open_once)
    with SMTPSink(pipelining=True) as sink:
        smtp_to(settings, sink.port)
        sending.send_batches(campaign_id=campaign.pk)

    # Released, then claimed again by the next batch, whose connection cannot open
    # either: queued for a later attempt, never handed over.
    first, _, *rest = Delivery.objects.order_by("id")
    assert sink.handler.recipients() == [first.subscriber.email]
    assert {row.status for row in rest} == {DeliveryStatus.QUEUED}
    assert all(row.last_error.startswith("ConnectionRefusedError") for row in rest)
