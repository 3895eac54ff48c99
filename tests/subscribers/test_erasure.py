"""Erasure, exactly: one newsletter's erasure removes its data only; the person's own
"erase me" leaves no row anywhere that holds their address, name or IP address.

Every table of every app is read back (``apps.get_models()``), so a model added later
that keeps a copy of someone's address is caught here without editing this file.
"""

import pytest
from django.apps import apps
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.mail import EmailMessage, get_connection
from django.db.models import CharField, TextField
from django.utils import timezone

from campaigns.models import Status
from delivery.models import Delivery, DeliveryEvent, DeliveryStatus, OutboxMessage
from delivery.transports import connection_for
from subscribers import ledger, personal_data, services, suppressions
from subscribers.ledger import Evidence
from subscribers.models import (
    BulkJob,
    ConsentEvent,
    ConsentSource,
    ImportBatch,
    ImportProblem,
    Subscriber,
    SubscriberStatus,
    Suppression,
    address_digest,
)
from subscribers.tokens import Claim
from tests.factories import (
    CampaignFactory,
    MailingListFactory,
    NewsletterFactory,
    UserFactory,
)
from tracking.models import Engagement, Event
from webhooks.models import Attempt, Endpoint, WebhookDelivery

pytestmark = pytest.mark.django_db

EMAIL = "Zelda.Quixote@example.org"
NAME = "Zelda Quixotic"
IP = "198.51.100.77"
AGENT = "ZeldaBrowser/1.0"
SECRETS = (EMAIL.lower(), NAME.lower(), IP, AGENT.lower())
# Where a digest of the address is kept on purpose: the ledger's chain hashes it, a
# suppression is nothing else, and an ESP event's dedup key holds it until pruned.
DIGEST_KEPT_IN = {
    (ConsentEvent, "email_digest"),
    (Suppression, "email_digest"),
    (DeliveryEvent, "recipient_digest"),
}


def text_of(value) -> str:
    if isinstance(value, bytes | memoryview):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def rows_holding(secrets=SECRETS) -> dict[tuple[str, object], str]:
    """Every row of every table that holds one of ``secrets``, with what it holds."""
    found = {}
    for model in apps.get_models():
        for row in model.objects.values():
            text = " ".join(text_of(value) for value in row.values()).lower()
            held = [secret for secret in secrets if secret.lower() in text]
            if held:
                found[(model._meta.label, row[model._meta.pk.attname])] = text
    return found


def rows_with_digest(digest: str) -> set[tuple]:
    found = set()
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if not isinstance(field, CharField | TextField):
                continue
            if model.objects.filter(**{field.attname: digest}).exists():
                found.add((model, field.name))
    return found


def give_everything(newsletter) -> Subscriber:
    """The person, known to ``newsletter`` in every way the instance can know someone."""
    newsletter.record_consent_ip = True
    newsletter.record_tracking_ip = True
    newsletter.save()
    news = MailingListFactory(newsletter=newsletter)
    Endpoint.objects.create(
        newsletter=newsletter,
        url=f"https://hooks.example.org/{newsletter.slug}",
        events=["subscriber.subscribed", "subscriber.confirmed"],
    )
    contact = services.subscribe(
        newsletter=newsletter,
        email=EMAIL,
        name=NAME,
        lists=[news],
        source=ConsentSource.FORM,
        wording="Yes.",
        evidence=Evidence(IP, AGENT),
    ).subscriber
    services.confirm(claim=Claim(contact.pk, newsletter.pk), evidence=Evidence(IP, AGENT))
    for row in WebhookDelivery.objects.filter(endpoint__newsletter=newsletter):
        Attempt.objects.create(
            delivery=row,
            started_at=timezone.now(),
            status_code=200,
            response_excerpt=f'{{"received": "{EMAIL}"}}',
        )
    campaign = CampaignFactory(newsletter=newsletter, status=Status.SENT)
    delivery = Delivery.objects.create(
        campaign=campaign,
        subscriber=contact,
        status=DeliveryStatus.FAILED,
        last_error=f"550 5.1.1 <{EMAIL}>: Recipient address rejected",
    )
    DeliveryEvent.objects.create(
        esp=f"smtp-{newsletter.slug}",
        event_id=f"bounce-{delivery.pk}",
        recipient_digest=address_digest(EMAIL),
        kind="bounced",
        delivery=delivery,
        detail=f"Mailbox of {NAME} is full",
    )
    Event.objects.create(
        campaign=campaign,
        delivery_id=delivery.pk,
        subscriber=contact,
        kind="open",
        agent="desktop",
        ip=IP,
        occurred_at=timezone.now(),
    )
    Engagement.objects.create(delivery_id=delivery.pk, campaign=campaign, subscriber=contact)
    EmailMessage(
        "Your data",
        f"Hello {NAME}",
        "news@example.org",
        [EMAIL],
        connection=connection_for(newsletter.pk),
    ).send()
    batch = ImportBatch.objects.create(newsletter=newsletter, mailing_list=news, attestation="x")
    ImportProblem.objects.create(batch=batch, line=3, reason=f"invalid email address: {EMAIL},")
    BulkJob.objects.create(
        newsletter=newsletter,
        action="unsubscribe",
        filters={"q": EMAIL.upper(), "status": "active"},
    )
    LogEntry.objects.create(
        user=UserFactory(),
        content_type=ContentType.objects.get_for_model(Subscriber),
        object_id=str(contact.pk),
        object_repr=str(contact),
        action_flag=CHANGE,
        change_message="[]",
    )
    return contact


def test_the_setup_puts_the_person_in_every_kind_of_row():
    """So that the tests below prove something: each kind of row holds them first."""
    give_everything(NewsletterFactory())
    held = {label for label, _ in rows_holding()}
    assert held >= {
        "subscribers.Subscriber",
        "subscribers.ConsentEvent",
        "subscribers.ImportProblem",
        "subscribers.BulkJob",
        "delivery.Delivery",
        "delivery.DeliveryEvent",
        "delivery.OutboxMessage",
        "tracking.Event",
        "webhooks.WebhookDelivery",
        "webhooks.Attempt",
        "admin.LogEntry",
    }


def test_erasing_in_one_newsletter_removes_its_data_and_nothing_of_another():
    b = NewsletterFactory()
    b_contact = give_everything(b)
    b_rows = rows_holding()
    a = NewsletterFactory()
    a_contact = give_everything(a)

    personal_data.erase(
        claim=Claim(a_contact.pk, a.pk), source=ConsentSource.DASHBOARD, actor="editor of A"
    )

    # What still holds the person is exactly what newsletter B held, untouched.
    assert rows_holding() == b_rows
    a_contact.refresh_from_db()
    assert (a_contact.email, a_contact.name, a_contact.status) == (None, "", "erased")
    assert not a_contact.subscriptions.exists()
    assert not Event.objects.filter(subscriber=a_contact).exists()
    assert not Engagement.objects.filter(subscriber=a_contact).exists()
    assert ledger.verify_chain(a_contact).valid and ledger.verify_chain(b_contact).valid
    # A never mails the address again; B still may.
    assert suppressions.reasons(EMAIL, a) == {"erased"}
    assert suppressions.reasons(EMAIL, b) == set()
    assert not Suppression.objects.filter(newsletter__isnull=True).exists()
    b_contact.refresh_from_db()
    assert (b_contact.email, b_contact.name, b_contact.status) == (EMAIL, NAME, "active")


def test_the_persons_own_erasure_leaves_no_address_name_or_ip_anywhere():
    a, b = NewsletterFactory(), NewsletterFactory()
    a_contact, b_contact = give_everything(a), give_everything(b)
    EmailMessage(
        "Instance mail", "Hi", "admin@example.org", [EMAIL], connection=get_connection()
    ).send()
    assert OutboxMessage.objects.filter(newsletter__isnull=True).exists()

    erased = personal_data.erase_everywhere(
        claim=Claim(a_contact.pk, a.pk), source=ConsentSource.SELF_SERVICE
    )

    assert erased == 2
    assert rows_holding() == {}
    assert rows_with_digest(address_digest(EMAIL)) <= DIGEST_KEPT_IN
    for contact in (a_contact, b_contact):
        contact.refresh_from_db()
        assert contact.status == SubscriberStatus.ERASED
        report = ledger.verify_chain(contact)
        assert report.valid, report.problem
    # Every newsletter, including one the person never joined, stops for good.
    assert suppressions.reasons(EMAIL, NewsletterFactory()) == {"erased"}
    outcome = services.subscribe(
        newsletter=a,
        email=EMAIL,
        lists=[a.lists.first()],
        source=ConsentSource.API,
        wording="Yes.",
        attestation="They said yes",
    )
    assert outcome.subscriber is None


def test_the_persons_export_holds_what_every_newsletter_keeps_about_them():
    a, b = NewsletterFactory(name="Alpha"), NewsletterFactory(name="Beta")
    a_contact = give_everything(a)
    give_everything(b)
    suppressions.suppress(email=EMAIL, reason="manual", newsletter=b, note="asked by phone")

    data = personal_data.export_person(a_contact)

    assert data["email"] == EMAIL
    assert [each["newsletter"] for each in data["newsletters"]] == ["Alpha", "Beta"]
    for each in data["newsletters"]:
        assert each["name"] == NAME
        assert [event["action"] for event in each["consent_history"]] == [
            "subscribed",
            "confirmed",
        ]
        assert each["consent_history"][0]["ip_address"] == IP
        assert each["consent_history"][0]["user_agent"] == AGENT
        [delivery] = each["deliveries"]
        assert delivery["status"] == "failed" and EMAIL in delivery["error"]
        assert delivery["feedback"][0]["detail"] == f"Mailbox of {NAME} is full"
        [hit] = each["opens_and_clicks"]
        assert (hit["kind"], hit["ip_address"]) == ("open", IP)
    assert data["suppressions"] == [
        {
            "newsletter": "Beta",
            "reason": "manual",
            "note": "asked by phone",
            "since": data["suppressions"][0]["since"],
        }
    ]
