"""ESP events act only on the delivery they are provably about, within the scope of the
URL they came to: a newsletter's own backend URL (its own secret) speaks for that
newsletter only; the instance URL for newsletters on the default backend only. A bare
(sequential) delivery id, a bare message id or a bare address acts on nothing."""

import json

import pytest
from django.core import signing
from django.utils import timezone

from campaigns.models import Status
from delivery import feedback, sending_backends
from delivery.models import BackendKind, Delivery, DeliveryStatus, SendingBackend
from delivery.tags import delivery_tag
from newsletter import network
from subscribers.models import Subscriber, Suppression, address_digest
from tests.delivery.test_webhooks import (
    COMPLAINTS,
    FIXTURES,
    HARD_BOUNCES,
    MAILGUN_KEY,
    RECIPIENT,
    SECRET,
    basic_auth,
    mailgun_signed,
    post,
    sent_delivery,
    state,
    subscribed,
)
from tests.factories import CampaignFactory, NewsletterFactory

pytestmark = pytest.mark.django_db

OTHER = "grace@example.org"
B_SIGNING_KEY = "b-mailgun-signing-key"


def suppression_reason(address: str) -> str | None:
    """Why the address is suppressed, in any newsletter or instance-wide, or None."""
    return (
        Suppression.objects.filter(email_digest=address_digest(address))
        .values_list("reason", flat=True)
        .first()
    )


@pytest.fixture(autouse=True)
def public_dns(monkeypatch):
    monkeypatch.setattr(network, "resolve", lambda host, port: ["93.184.215.14"])


@pytest.fixture(autouse=True)
def instance_webhook(settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET, "MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_KEY}


@pytest.fixture
def on_default():
    """Newsletter A sends through the instance's default backend."""
    newsletter = NewsletterFactory()
    return sent_delivery(subscribed(newsletter), newsletter)


@pytest.fixture
def newsletter_b():
    return NewsletterFactory()


@pytest.fixture
def on_own(newsletter_b):
    """Newsletter B sends through its own backend (Postmark)."""
    configure(newsletter_b, BackendKind.POSTMARK, {"server_token": "pm-b"})
    return sent_delivery(subscribed(newsletter_b, OTHER), newsletter_b)


def configure(target, kind, secrets, **values) -> SendingBackend:
    return sending_backends.sending_backend_save(
        newsletter=target, values={"kind": kind, "active": True, **values}, new_secrets=secrets
    )


def fixture(name: str, delivery: Delivery, *, tag: str | None = None, message_id=None) -> str:
    text = (FIXTURES / f"{name}.json").read_text()
    text = text.replace("__DELIVERY__", delivery_tag(delivery.pk) if tag is None else tag)
    text = text.replace("__RECIPIENT__", delivery.subscriber.email)
    return text.replace(
        "__MESSAGE_ID__", delivery.esp_message_id if message_id is None else message_id
    )


def backend_url(backend: SendingBackend, esp: str | None = None) -> str:
    return f"/webhooks/anymail/{esp or backend.kind}/tracking/{backend.webhook_key}/"


def backend_auth(backend: SendingBackend) -> dict:
    webhook = sending_backends.webhook_of(backend)
    return basic_auth(f"{webhook.username}:{webhook.password}")


def post_json(client, url, body, auth):
    return client.post(url, body, content_type="application/json", **auth)


# Guessable ids and bare addresses


@pytest.mark.parametrize("name", HARD_BOUNCES)
def test_a_bare_sequential_delivery_id_is_not_believed(client, name, on_default):
    before = state(on_default)
    body = fixture(name, on_default, tag=str(on_default.pk), message_id="unknown-id")
    assert post(client, name, on_default, body=body).status_code == 200
    assert state(on_default)[:5] == before[:5]
    assert suppression_reason(RECIPIENT) is None


@pytest.mark.parametrize("name", HARD_BOUNCES)
def test_a_tag_signed_by_anyone_else_is_not_believed(client, name, on_default):
    forged = signing.Signer(key="another-secret", salt="delivery.feedback.delivery-tag")
    body = fixture(name, on_default, tag=forged.sign(str(on_default.pk)), message_id="x")
    assert post(client, name, on_default, body=body).status_code == 200
    on_default.refresh_from_db()
    assert on_default.bounce_type == ""
    assert suppression_reason(RECIPIENT) is None


@pytest.mark.parametrize("name", HARD_BOUNCES + COMPLAINTS)
def test_an_event_naming_only_an_address_acts_on_nothing(client, name, on_default):
    person = on_default.subscriber
    body = fixture(name, on_default, tag="", message_id="not-one-of-ours")
    assert post(client, name, on_default, body=body).status_code == 200
    assert suppression_reason(RECIPIENT) is None
    person.refresh_from_db()
    assert person.status == "active"
    assert set(person.subscriptions.values_list("status", flat=True)) == {"confirmed"}


def test_our_own_message_id_without_its_recipient_is_not_enough(on_default):
    own = f"<{on_default.pk}.{on_default.campaign_id}.crier@news.example.org>"
    Delivery.objects.filter(pk=on_default.pk).update(esp_message_id=own)
    found = feedback.record(
        feedback=feedback.Feedback(esp="smtp", event_id="1", kind="bounced", message_id=own),
        scope=feedback.DEFAULT_BACKEND,
    )
    assert found.delivery is None
    with_recipient = feedback.record(
        feedback=feedback.Feedback(
            esp="smtp", event_id="2", kind="delivered", message_id=own, recipient=RECIPIENT
        ),
        scope=feedback.DEFAULT_BACKEND,
    )
    assert with_recipient.delivery == on_default


def test_one_message_id_for_a_whole_batch_finds_each_recipients_own_row(client):
    """Mailgun gives every recipient of a batch call the same message id."""
    newsletter = NewsletterFactory()
    campaign = CampaignFactory(newsletter=newsletter, status=Status.SENT)
    rows = []
    for address in ("ada@example.org", "bob@example.org", "cy@example.org"):
        rows.append(
            Delivery.objects.create(
                campaign=campaign,
                subscriber=subscribed(newsletter, address),
                status=DeliveryStatus.SENT,
                sent_at=timezone.now(),
                esp_message_id="<batch-1@mg.example>",
            )
        )
    body = json.loads(fixture("postmark_bounce_hard", rows[2], tag=""))
    body["Metadata"] = {}
    body["MessageID"] = "<batch-1@mg.example>"
    assert post(client, "postmark_bounce_hard", rows[2], body=json.dumps(body)).status_code == 200
    assert [row.bounce_type for row in Delivery.objects.order_by("pk")] == ["", "", "hard"]
    assert suppression_reason("cy@example.org") == "hard_bounce"


# Scopes


@pytest.mark.parametrize("name", ["postmark_bounce_hard", "sendgrid_bounce", "brevo_hard_bounce"])
def test_the_instance_url_does_not_speak_for_a_newsletter_with_its_own_backend(
    client, name, on_own
):
    before = state(on_own)
    assert post(client, name, on_own, body=fixture(name, on_own)).status_code == 200
    assert state(on_own)[:5] == before[:5]
    assert suppression_reason(OTHER) is None


def test_a_newsletters_own_url_applies_its_events_to_its_deliveries(client, on_own):
    backend = SendingBackend.objects.get(newsletter=on_own.campaign.newsletter)
    response = post_json(
        client, backend_url(backend), fixture("postmark_bounce_hard", on_own), backend_auth(backend)
    )
    assert response.status_code == 200
    on_own.refresh_from_db()
    assert on_own.bounce_type == "hard"
    assert suppression_reason(OTHER) == "hard_bounce"
    assert Subscriber.objects.get(pk=on_own.subscriber_id).status == "bounced"


def test_a_newsletters_own_url_does_not_reach_another_newsletter(client, on_own, on_default):
    backend = SendingBackend.objects.get(newsletter=on_own.campaign.newsletter)
    before = state(on_default)
    body = fixture("postmark_bounce_hard", on_default)  # a valid tag, but not B's delivery
    assert post_json(client, backend_url(backend), body, backend_auth(backend)).status_code == 200
    assert state(on_default)[:5] == before[:5]
    assert suppression_reason(RECIPIENT) is None


def test_each_url_takes_only_its_own_secret(client, on_own):
    backend = SendingBackend.objects.get(newsletter=on_own.campaign.newsletter)
    body = fixture("postmark_bounce_hard", on_own)
    before = state(on_own)
    # The instance's secret does not open a newsletter's URL, nor the reverse.
    assert post_json(client, backend_url(backend), body, basic_auth(SECRET)).status_code == 400
    assert post_json(client, backend_url(backend), body, {}).status_code == 400
    default_url = "/webhooks/anymail/postmark/tracking/"
    assert post_json(client, default_url, body, backend_auth(backend)).status_code == 400
    assert state(on_own) == before


def test_a_renewed_secret_replaces_the_old_one_at_once(client, on_own):
    backend = SendingBackend.objects.get(newsletter=on_own.campaign.newsletter)
    old = backend_auth(backend)
    backend = sending_backends.webhook_secret_renew(backend=backend)
    body = fixture("postmark_bounce_hard", on_own)
    assert post_json(client, backend_url(backend), body, old).status_code == 400
    assert post_json(client, backend_url(backend), body, backend_auth(backend)).status_code == 200


def test_an_unknown_key_or_another_service_is_not_found(client, on_own):
    backend = SendingBackend.objects.get(newsletter=on_own.campaign.newsletter)
    body = fixture("postmark_bounce_hard", on_own)
    auth = backend_auth(backend)
    assert post_json(client, backend_url(backend, "mailgun"), body, auth).status_code == 404
    assert post_json(client, backend_url(backend, "smtp"), body, auth).status_code == 404
    unknown = "/webhooks/anymail/postmark/tracking/not-a-key/"
    assert post_json(client, unknown, body, auth).status_code == 404


def test_an_smtp_backend_has_no_tracking_webhook(newsletter_b):
    backend = configure(newsletter_b, BackendKind.SMTP, {}, host="smtp.example.org")
    assert sending_backends.webhook_of(backend) is None


def test_a_newsletters_mailgun_url_checks_its_own_signing_key(client, newsletter_b):
    backend = configure(newsletter_b, BackendKind.MAILGUN, {"api_key": "key-b"})
    delivery = sent_delivery(subscribed(newsletter_b, OTHER), newsletter_b)
    url, auth = backend_url(backend), backend_auth(backend)
    body = fixture("mailgun_failed_permanent", delivery)
    # No signing key entered: refused, and the instance's key is never used instead.
    assert post_json(client, url, mailgun_signed(body), auth).status_code == 403
    backend = configure(newsletter_b, BackendKind.MAILGUN, {"webhook_signing_key": B_SIGNING_KEY})
    assert post_json(client, url, mailgun_signed(body), auth).status_code == 400  # instance key
    assert suppression_reason(OTHER) is None
    assert post_json(client, url, mailgun_signed(body, key=B_SIGNING_KEY), auth).status_code == 200
    assert suppression_reason(OTHER) == "hard_bounce"


def test_a_newsletters_ses_subscription_is_confirmed_with_its_own_credentials(
    client, newsletter_b, monkeypatch
):
    import boto3

    sessions = []

    class Client:
        def confirm_subscription(self, **kwargs):
            sessions[-1]["confirmed"] = kwargs

        def close(self):
            pass

    class Session:
        def __init__(self, **params):
            sessions.append({"params": params})

        def client(self, service, **params):
            sessions[-1]["client"] = (service, params.get("region_name"))
            return Client()

    monkeypatch.setattr(boto3.session, "Session", Session)
    backend = configure(
        newsletter_b,
        BackendKind.AMAZON_SES,
        {"aws_access_key_id": "AKIA-B", "aws_secret_access_key": "secret-b"},
        region="eu-west-1",
    )
    body = (FIXTURES / "amazon_ses_subscription_confirmation.json").read_text()
    message = json.loads(body)
    response = client.post(
        backend_url(backend),
        body,
        content_type="text/plain",
        HTTP_X_AMZ_SNS_MESSAGE_ID=message["MessageId"],
        HTTP_X_AMZ_SNS_MESSAGE_TYPE=message["Type"],
        **backend_auth(backend),
    )
    assert response.status_code == 200
    [session] = sessions
    assert session["params"]["aws_access_key_id"] == "AKIA-B"
    assert session["params"]["aws_secret_access_key"] == "secret-b"
    assert session["client"][0] == "sns"
    assert session["confirmed"]["Token"] == "EXAMPLE_TOKEN"


def test_a_backend_whose_secrets_cannot_be_read_refuses_its_events(client, on_own):
    backend = SendingBackend.objects.get(newsletter=on_own.campaign.newsletter)
    auth = backend_auth(backend)
    SendingBackend.objects.filter(pk=backend.pk).update(webhook_secret="not-a-fernet-token")
    body = fixture("postmark_bounce_hard", on_own)
    assert post_json(client, backend_url(backend), body, auth).status_code == 403
    on_own.refresh_from_db()
    assert on_own.bounce_type == ""
