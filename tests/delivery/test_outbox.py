import logging
from datetime import timedelta

import pytest
from django.core.mail import EmailMultiAlternatives, send_mail
from django.utils import timezone

from delivery import services
from delivery.models import OutboxMessage

pytestmark = pytest.mark.django_db


def test_outbox_keeps_the_whole_message_as_smtp_would_carry_it():
    message = EmailMultiAlternatives(
        subject="Release 2.0 — what's new",
        body="Plain words.",
        from_email="Project <news@example.org>",
        to=["ada@example.org"],
        bcc=["archive@example.org"],
        headers={"List-Id": "<news.example.org>"},
    )
    message.attach_alternative("<p>Rich <strong>words</strong>.</p>", "text/html")
    assert message.send() == 1

    stored = OutboxMessage.objects.get()
    assert stored.subject == "Release 2.0 — what's new"
    assert stored.recipients == ["ada@example.org", "archive@example.org"]
    assert stored.message_id.startswith("<") and stored.message_id.endswith(">")
    parsed = stored.parsed()
    assert parsed["List-Id"] == "<news.example.org>"
    assert "Bcc" not in parsed
    assert stored.body("plain").strip() == "Plain words."
    assert stored.body("html").strip() == "<p>Rich <strong>words</strong>.</p>"


def test_text_only_message_has_no_html_part():
    send_mail("Hi", "Only text.", "news@example.org", ["ada@example.org"])
    stored = OutboxMessage.objects.get()
    assert stored.body("html") == ""
    assert stored.body("plain").strip() == "Only text."


def test_outbox_logs_no_body_or_address(caplog):
    with caplog.at_level(logging.INFO, logger="delivery"):
        send_mail(
            "Secret plans", "The body stays private.", "news@example.org", ["ada@example.org"]
        )
    logged = " ".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    assert "mail stored in outbox" in logged
    assert "The body stays private." not in logged
    assert "ada@example.org" not in logged


def test_send_test_message_goes_through_the_configured_backend():
    services.send_test_message(to="ops@example.org", requested_by="ada")
    stored = OutboxMessage.objects.get()
    assert stored.subject == "Crier test message"
    assert stored.recipients == ["ops@example.org"]
    assert "requested by ada" in stored.body("plain")
    assert "requested by ada" in stored.body("html")


def test_prune_deletes_only_messages_past_retention(settings):
    settings.OUTBOX_RETENTION_DAYS = 30
    send_mail("Old", "x", "news@example.org", ["a@example.org"])
    send_mail("New", "x", "news@example.org", ["a@example.org"])
    OutboxMessage.objects.filter(subject="Old").update(
        created_at=timezone.now() - timedelta(days=31)
    )
    assert services.outbox_prune() == 1
    assert list(OutboxMessage.objects.values_list("subject", flat=True)) == ["New"]
