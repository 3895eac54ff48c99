"""Real ESP webhook payloads (tests/fixtures/esp/) posted to /webhooks/anymail/<esp>/tracking/."""

import base64
import hashlib
import hmac
import http.server
import json
import threading
import urllib.parse
from pathlib import Path

import pytest
from django.utils import timezone

from campaigns.models import Status
from delivery.models import Delivery, DeliveryEvent, DeliveryStatus
from delivery.signals import delivery_bounced, delivery_complained
from delivery.tags import delivery_tag
from subscribers import services as subscribers
from subscribers import suppressions
from subscribers.models import (
    ConsentEvent,
    ConsentSource,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
)
from tests.factories import CampaignFactory, MailingListFactory, NewsletterFactory

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "esp"
SECRET = "crier:webhook-password"
MAILGUN_KEY = "mailgun-signing-key"
RECIPIENT = "ada@example.org"
ESPS = ["amazon_ses", "mailgun", "postmark", "brevo", "sendgrid"]


@pytest.fixture(autouse=True)
def webhook_settings(settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET, "MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_KEY}


def subscribed(newsletter, email=RECIPIENT):
    mailing_list = MailingListFactory(newsletter=newsletter)
    return subscribers.subscribe(
        newsletter=newsletter,
        email=email,
        lists=[mailing_list],
        source=ConsentSource.DASHBOARD,
        wording="I agree.",
        attestation="test",
        actor="t",
    ).subscriber


def suppressed(newsletter, email=RECIPIENT) -> dict:
    """What stops this newsletter mailing the address: {reason: instance-wide?}."""
    return {
        suppression.reason: suppression.instance_wide
        for suppression in suppressions.applying(email, newsletter)
    }


def sent_delivery(subscriber, newsletter, esp_message_id="") -> Delivery:
    campaign = CampaignFactory(newsletter=newsletter, status=Status.SENT)
    delivery = Delivery.objects.create(
        campaign=campaign,
        subscriber=subscriber,
        status=DeliveryStatus.SENT,
        sent_at=timezone.now(),
    )
    delivery.esp_message_id = esp_message_id or f"esp-{delivery.pk}"
    delivery.save(update_fields=["esp_message_id"])
    return delivery


@pytest.fixture
def newsletter():
    return NewsletterFactory()


@pytest.fixture
def person(newsletter):
    return subscribed(newsletter)


@pytest.fixture
def delivery(person, newsletter):
    return sent_delivery(person, newsletter)


def payload(name: str, delivery: Delivery, recipient: str = RECIPIENT) -> str:
    """The fixture as the ESP would post it about ``delivery``: with the signed tag our
    message carried in its metadata (delivery/messages.py), and its message id."""
    text = (FIXTURES / f"{name}.json").read_text()
    text = text.replace("__DELIVERY__", delivery_tag(delivery.pk))
    text = text.replace("__RECIPIENT__", recipient)
    return text.replace("__MESSAGE_ID__", delivery.esp_message_id)


def another_event(name: str, delivery: Delivery) -> str:
    """The same kind of event from another campaign: the ESP gives it a new id."""
    data = json.loads(payload(name, delivery))
    event = data[0] if isinstance(data, list) else data
    for key in ("MessageId", "ID", "sg_event_id"):
        if key in event:
            event[key] = f"{event[key]}-{delivery.pk}"
    return json.dumps(data)


def basic_auth(secret: str = SECRET) -> dict:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(secret.encode()).decode()}


def mailgun_signed(body: str, key: str = MAILGUN_KEY) -> str:
    data = json.loads(body)
    signature = data["signature"]
    signature["signature"] = hmac.new(
        key.encode(), f"{signature['timestamp']}{signature['token']}".encode(), hashlib.sha256
    ).hexdigest()
    return json.dumps(data)


def post(client, name: str, delivery: Delivery, *, auth: dict | None = None, body: str = ""):
    esp = next(esp for esp in ESPS if name.startswith(esp))
    body = body or payload(name, delivery)
    headers = basic_auth() if auth is None else auth
    url = f"/webhooks/anymail/{esp}/tracking/"
    if esp == "amazon_ses":
        message = json.loads(body)
        headers = {
            **headers,
            "HTTP_X_AMZ_SNS_MESSAGE_ID": message["MessageId"],
            "HTTP_X_AMZ_SNS_MESSAGE_TYPE": message["Type"],
        }
        return client.post(url, body, content_type="text/plain; charset=UTF-8", **headers)
    if esp == "mailgun":
        body = mailgun_signed(body)
    return client.post(url, body, content_type="application/json", **headers)


def state(delivery: Delivery) -> tuple:
    """Everything a webhook may change, to prove that a rejected one changed nothing."""
    delivery.refresh_from_db()
    return (
        delivery.delivered_at,
        delivery.bounce_type,
        delivery.complained_at,
        delivery.rejected_at,
        delivery.esp_unsubscribed_at,
        DeliveryEvent.objects.count(),
        Suppression.objects.count(),
        ConsentEvent.objects.count(),
        list(Subscriber.objects.values_list("status", flat=True)),
        list(Subscription.objects.values_list("status", flat=True)),
    )


@pytest.fixture
def signals():
    received = []

    def listen(signal_name):
        def receiver(sender, **kwargs):
            received.append((signal_name, kwargs["delivery"].pk, kwargs.get("bounce_type")))

        return receiver

    bounced, complained = listen("bounced"), listen("complained")
    delivery_bounced.connect(bounced)
    delivery_complained.connect(complained)
    yield received
    delivery_bounced.disconnect(bounced)
    delivery_complained.disconnect(complained)


HARD_BOUNCES = [
    "amazon_ses_bounce_permanent",
    "mailgun_failed_permanent",
    "postmark_bounce_hard",
    "brevo_hard_bounce",
    "sendgrid_bounce",
]


@pytest.mark.parametrize("name", HARD_BOUNCES)
def test_a_hard_bounce_suppresses_the_address_once(
    client, name, newsletter, delivery, person, signals, django_capture_on_commit_callbacks
):
    ledger_before = ConsentEvent.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, name, delivery).status_code == 200
    delivery.refresh_from_db()
    assert delivery.bounce_type == "hard"
    assert delivery.bounced_at is not None
    # Mail that was sent bounced for good: every newsletter stops mailing the address.
    assert suppressed(newsletter) == {"hard_bounce": True}
    person.refresh_from_db()
    assert person.status == "bounced"
    # A bounce withdraws no consent: the ledger is untouched.
    assert ConsentEvent.objects.count() == ledger_before
    assert signals == [("bounced", delivery.pk, "hard")]
    event = DeliveryEvent.objects.get()
    assert RECIPIENT not in event.detail

    before = state(delivery)
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, name, delivery).status_code == 200
    assert state(delivery) == before
    assert signals == [("bounced", delivery.pk, "hard")]


SOFT_BOUNCES = [
    "amazon_ses_bounce_transient",
    "postmark_bounce_soft",
    "brevo_soft_bounce",
    "sendgrid_blocked",
]


@pytest.mark.parametrize("name", SOFT_BOUNCES)
def test_soft_bounces_are_counted_and_suppress_only_when_they_repeat(
    client, name, newsletter, person, settings
):
    settings.SOFT_BOUNCE_LIMIT = 2
    first = sent_delivery(person, newsletter)
    assert post(client, name, first).status_code == 200
    first.refresh_from_db()
    assert first.bounce_type == "soft"
    assert suppressed(newsletter) == {}

    second = sent_delivery(person, newsletter)
    assert post(client, name, second, body=another_event(name, second)).status_code == 200
    # Soft bounces are no proof the address is dead: this newsletter stops, no other.
    assert suppressed(newsletter) == {"soft_bounces": False}
    person.refresh_from_db()
    assert person.status == "bounced"


def test_a_delivery_between_soft_bounces_starts_the_count_again(
    client, newsletter, person, settings
):
    settings.SOFT_BOUNCE_LIMIT = 2
    bounced = sent_delivery(person, newsletter)
    post(client, "postmark_bounce_soft", bounced)
    delivered = sent_delivery(person, newsletter)
    post(client, "postmark_delivery", delivered)
    later = sent_delivery(person, newsletter)
    post(client, "postmark_bounce_soft", later, body=another_event("postmark_bounce_soft", later))
    assert suppressed(newsletter) == {}


COMPLAINTS = [
    "amazon_ses_complaint",
    "mailgun_complained",
    "postmark_spam_complaint",
    "brevo_spam",
    "sendgrid_spamreport",
]


@pytest.mark.parametrize("name", COMPLAINTS)
def test_a_complaint_unsubscribes_from_the_newsletter_and_suppresses_everywhere(
    client, name, newsletter, person, delivery, signals, django_capture_on_commit_callbacks
):
    Subscription.objects.create(
        subscriber=person,
        mailing_list=MailingListFactory(newsletter=newsletter),
        status=SubscriptionStatus.CONFIRMED,
    )
    elsewhere = NewsletterFactory()
    other = subscribed(elsewhere)
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, name, delivery).status_code == 200
    delivery.refresh_from_db()
    assert delivery.complained_at is not None
    assert set(person.subscriptions.values_list("status", flat=True)) == {"unsubscribed"}
    left = ConsentEvent.objects.filter(subscriber=person, action="unsubscribed")
    assert left.count() == 2
    assert set(left.values_list("source", flat=True)) == {"esp_complaint"}
    # The complaint is about mail that was sent: no newsletter mails the address again,
    # but another newsletter's contact and its consent are not this newsletter's to change.
    assert suppressed(newsletter) == suppressed(elsewhere) == {"complaint": True}
    assert set(other.subscriptions.values_list("status", flat=True)) == {"confirmed"}
    assert not other.consent_events.filter(action="unsubscribed").exists()
    person.refresh_from_db()
    assert person.status == "complained"
    assert signals == [("complained", delivery.pk, None)]

    before = state(delivery)
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, name, delivery).status_code == 200
    assert state(delivery) == before
    assert signals == [("complained", delivery.pk, None)]


DELIVERIES = [
    "amazon_ses_delivery",
    "mailgun_delivered",
    "postmark_delivery",
    "brevo_delivered",
    "sendgrid_delivered",
]


@pytest.mark.parametrize("name", DELIVERIES)
def test_a_delivery_is_marked_and_changes_nothing_else(client, name, delivery):
    assert post(client, name, delivery).status_code == 200
    delivery.refresh_from_db()
    assert delivery.delivered_at is not None
    assert delivery.bounce_type == ""
    assert Suppression.objects.count() == 0
    first = delivery.delivered_at
    assert post(client, name, delivery).status_code == 200
    delivery.refresh_from_db()
    assert delivery.delivered_at == first
    assert DeliveryEvent.objects.count() == 1


UNSUBSCRIBES = [
    "mailgun_unsubscribed",
    "postmark_subscription_change",
    "brevo_unsubscribe",
    "sendgrid_unsubscribe",
]


@pytest.mark.parametrize("name", UNSUBSCRIBES)
def test_an_esp_side_unsubscribe_leaves_that_newsletter_only(
    client, name, newsletter, person, delivery
):
    other = subscribed(NewsletterFactory())
    assert post(client, name, delivery).status_code == 200
    delivery.refresh_from_db()
    assert delivery.esp_unsubscribed_at is not None
    left = Subscription.objects.get(subscriber=person)
    assert left.status == "unsubscribed"
    assert other.subscriptions.get().status == "confirmed"
    event = ConsentEvent.objects.filter(subscriber=person).latest("id")
    assert (event.action, event.source) == ("unsubscribed", "esp_unsubscribe")


def test_a_rejection_for_a_known_bad_address_suppresses_it_in_its_newsletter(
    client, newsletter, delivery
):
    assert post(client, "sendgrid_dropped", delivery).status_code == 200
    delivery.refresh_from_db()
    assert delivery.rejected_at is not None
    # Nothing was sent: the sending service's word stops this newsletter only.
    assert suppressed(newsletter) == {"hard_bounce": False}


def test_without_metadata_the_esp_message_id_finds_the_delivery(client, delivery):
    body = json.loads(payload("postmark_bounce_hard", delivery))
    body["Metadata"] = {}
    assert post(client, "postmark_bounce_hard", delivery, body=json.dumps(body)).status_code == 200
    delivery.refresh_from_db()
    assert delivery.bounce_type == "hard"


def test_an_event_for_another_address_does_not_touch_the_delivery(client, delivery):
    body = payload("postmark_bounce_hard", delivery).replace(RECIPIENT, "someone@example.net")
    assert post(client, "postmark_bounce_hard", delivery, body=body).status_code == 200
    delivery.refresh_from_db()
    assert delivery.bounce_type == ""
    # An event about no message of ours changes nobody, in no newsletter.
    assert not Suppression.objects.exists()


# Forged and malformed posts


@pytest.mark.parametrize("name", HARD_BOUNCES)
def test_a_wrong_or_missing_password_is_refused_and_changes_nothing(client, name, delivery):
    before = state(delivery)
    assert post(client, name, delivery, auth=basic_auth("crier:guess")).status_code in (400, 403)
    assert post(client, name, delivery, auth={}).status_code in (400, 401, 403)
    assert state(delivery) == before


@pytest.mark.parametrize("esp", ESPS)
def test_garbage_is_refused_with_400_and_changes_nothing(client, esp, delivery):
    before = state(delivery)
    url = f"/webhooks/anymail/{esp}/tracking/"
    headers = {
        "HTTP_X_AMZ_SNS_MESSAGE_ID": "1",
        "HTTP_X_AMZ_SNS_MESSAGE_TYPE": "Notification",
        **basic_auth(),
    }
    for body in ("not json {", "[1, 2]", '"a string"'):
        response = client.post(url, body, content_type="application/json", **headers)
        assert response.status_code == 400, (body, response.content)
    # JSON of no known shape is, at worst, an event of an unknown type: it changes nothing.
    response = client.post(url, '{"unexpected": true}', content_type="application/json", **headers)
    assert response.status_code in (200, 400)
    assert state(delivery) == before


def test_a_bad_mailgun_signature_is_refused(client, delivery):
    before = state(delivery)
    body = mailgun_signed(payload("mailgun_failed_permanent", delivery), key="not-the-key")
    response = client.post(
        "/webhooks/anymail/mailgun/tracking/", body, content_type="application/json", **basic_auth()
    )
    assert response.status_code == 400
    assert state(delivery) == before


def test_sns_headers_must_match_the_body(client, delivery):
    before = state(delivery)
    body = payload("amazon_ses_bounce_permanent", delivery)
    response = client.post(
        "/webhooks/anymail/amazon_ses/tracking/",
        body,
        content_type="text/plain",
        HTTP_X_AMZ_SNS_MESSAGE_ID="forged-id",
        HTTP_X_AMZ_SNS_MESSAGE_TYPE="Notification",
        **basic_auth(),
    )
    assert response.status_code == 400
    assert state(delivery) == before


def test_without_a_secret_webhooks_are_refused(client, delivery, settings):
    settings.ANYMAIL = {}
    before = state(delivery)
    response = post(client, "postmark_bounce_hard", delivery, auth={})
    assert response.status_code == 403
    assert state(delivery) == before


def test_an_unconfigured_esp_is_refused(client, delivery, settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET}  # no Mailgun signing key
    before = state(delivery)
    assert post(client, "mailgun_failed_permanent", delivery).status_code == 403
    assert state(delivery) == before


class FakeSNS(http.server.BaseHTTPRequestHandler):
    """Amazon SNS's ConfirmSubscription, on 127.0.0.1: the only call anymail makes to SNS."""

    received: list[dict] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        FakeSNS.received.append(urllib.parse.parse_qs(self.rfile.read(length).decode()))
        body = (
            b'<ConfirmSubscriptionResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">'
            b"<ConfirmSubscriptionResult><SubscriptionArn>"
            b"arn:aws:sns:us-west-2:123456789012:SES_Notifications:1"
            b"</SubscriptionArn></ConfirmSubscriptionResult>"
            b"<ResponseMetadata><RequestId>1</RequestId></ResponseMetadata>"
            b"</ConfirmSubscriptionResponse>"
        )
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def fake_sns(settings):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeSNS)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    FakeSNS.received = []
    settings.ANYMAIL = {
        "WEBHOOK_SECRET": SECRET,
        "AMAZON_SES_CLIENT_PARAMS": {"endpoint_url": f"http://127.0.0.1:{server.server_port}"},
        "AMAZON_SES_SESSION_PARAMS": {
            "aws_access_key_id": "test",
            "aws_secret_access_key": "test",
            "region_name": "us-east-1",
        },
    }
    yield FakeSNS.received
    server.shutdown()
    server.server_close()


def test_an_authenticated_sns_subscription_is_confirmed(client, delivery, fake_sns):
    before = state(delivery)
    assert post(client, "amazon_ses_subscription_confirmation", delivery).status_code == 200
    [request] = fake_sns
    assert request["Action"] == ["ConfirmSubscription"]
    assert request["Token"] == ["EXAMPLE_TOKEN"]
    assert state(delivery) == before


def test_an_unauthenticated_sns_subscription_is_not_confirmed(client, delivery, fake_sns):
    response = post(client, "amazon_ses_subscription_confirmation", delivery, auth={})
    # SNS sends credentials only after a 401 that asks for them.
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Basic")
    response = post(
        client, "amazon_ses_subscription_confirmation", delivery, auth=basic_auth("crier:guess")
    )
    assert response.status_code == 400
    assert fake_sns == []
