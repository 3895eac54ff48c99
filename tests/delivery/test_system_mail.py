"""System mail: every message is built one way (delivery.system_mail), and the apps
below delivery hand theirs over through ``newsletter.mail`` without importing it."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from delivery import receivers, system_mail
from delivery.models import OutboxMessage
from newsletter import mail
from newsletter.headers import HeaderInjection
from newsletter.mail import SystemMessage
from tests.factories import NewsletterFactory

pytestmark = pytest.mark.django_db


def test_newsletter_mail_leaves_from_the_newsletter_with_its_reply_to_and_its_outbox():
    newsletter = NewsletterFactory(
        name="Kernel News", from_email="news@example.org", reply_to="editors@example.org"
    )
    sent = mail.send(
        SystemMessage(
            to=("ada@example.org",),
            subject="Confirm",
            text="Plain words",
            html="<p>Rich words</p>",
            newsletter=newsletter,
            headers={"X-Crier-Test": "yes"},
        )
    )
    assert sent == 1
    stored = OutboxMessage.objects.get()
    parsed = stored.parsed()
    assert stored.newsletter_id == newsletter.pk
    assert stored.from_email == newsletter.sender
    assert parsed["Reply-To"] == "editors@example.org"
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed["X-Crier-Test"] == "yes"
    assert stored.body("plain").strip() == "Plain words"
    assert stored.body("html").strip() == "<p>Rich words</p>"


def test_instance_mail_leaves_from_the_instance(settings):
    settings.DEFAULT_FROM_EMAIL = "Crier <crier@example.net>"
    system_mail.send(SystemMessage(to=("a@example.org", "b@example.org"), subject="S", text="T"))
    stored = OutboxMessage.objects.get()
    assert stored.newsletter_id is None
    assert stored.from_email == "Crier <crier@example.net>"
    assert stored.recipients == ["a@example.org", "b@example.org"]
    assert stored.parsed()["Reply-To"] is None
    assert stored.body("html") == ""


@pytest.mark.parametrize("header", ["subject", "extra"])
def test_a_header_with_a_line_break_is_refused_and_nothing_leaves(header):
    injected = "Hello\r\nBcc: everyone@example.org"
    message = SystemMessage(
        to=("ada@example.org",),
        subject=injected if header == "subject" else "Hello",
        text="T",
        headers={"X-Note": injected} if header == "extra" else {},
    )
    with pytest.raises(HeaderInjection):
        mail.send(message)
    assert not OutboxMessage.objects.exists()


def test_without_delivery_listening_a_request_raises_instead_of_vanishing():
    mail.system_mail_requested.disconnect(receivers.send_system_mail, sender=SystemMessage)
    try:
        with pytest.raises(ImproperlyConfigured):
            mail.send(SystemMessage(to=("ada@example.org",), subject="S", text="T"))
    finally:
        mail.system_mail_requested.connect(receivers.send_system_mail, sender=SystemMessage)
    assert not OutboxMessage.objects.exists()
