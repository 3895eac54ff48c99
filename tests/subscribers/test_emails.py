import re

import pytest
from django.test import Client

from delivery.models import OutboxMessage
from subscribers import emails, services
from subscribers.models import ConsentSource, Subscriber, SubscriptionStatus
from subscribers.tokens import Claim
from tests.factories import MailingListFactory

pytestmark = pytest.mark.django_db


def pending(language="en"):
    news = MailingListFactory(name="Release notes", newsletter__name="Kernel News")
    services.subscribe(
        newsletter=news.newsletter,
        email="ada@example.org",
        lists=[news],
        source=ConsentSource.FORM,
        wording="I agree.",
        language=language,
    )
    return Subscriber.objects.get(), news.newsletter


def test_confirmation_mail_carries_a_working_link_and_the_newsletter_identity():
    subscriber, newsletter = pending()
    assert emails.send_confirmation(subscriber_id=subscriber.pk, newsletter_id=newsletter.pk)
    mail = OutboxMessage.objects.get()
    parsed = mail.parsed()
    assert mail.subject == "Confirm your subscription to Kernel News"
    assert parsed["From"] == newsletter.sender
    assert parsed["Auto-Submitted"] == "auto-generated"
    text = mail.body("plain")
    assert "Release notes" in text and newsletter.postal_address in text
    link = re.search(r"http://127\.0\.0\.1:8000(/s/confirm/\S+/)", text).group(1)
    assert link in mail.body("html")
    Client().post(link)
    assert subscriber.subscriptions.get().status == SubscriptionStatus.CONFIRMED


def test_confirmation_mail_speaks_the_subscribers_language():
    subscriber, newsletter = pending(language="fr")
    emails.send_confirmation(subscriber_id=subscriber.pk, newsletter_id=newsletter.pk)
    mail = OutboxMessage.objects.get()
    assert mail.subject == "Confirmez votre abonnement à Kernel News"
    assert "Quelqu’un, sans doute vous" in mail.body("plain")


def test_nothing_is_sent_once_there_is_nothing_left_to_confirm():
    subscriber, newsletter = pending()
    services.confirm(claim=Claim(subscriber.pk, newsletter.pk))
    assert not emails.send_confirmation(subscriber_id=subscriber.pk, newsletter_id=newsletter.pk)
    assert not OutboxMessage.objects.exists()
