"""Per-newsletter sending backends: secrets at rest, the engine sending through a local fake
ESP (batch calls with merge data, one call per message, retries and failures), quotas."""

import base64
import json
import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client

from campaigns.services import campaign_render
from delivery import lifecycle, sending, sending_backends, transports
from delivery.messages import Addressee, CampaignMessages
from delivery.models import BackendKind, Delivery, DeliveryStatus, OutboxMessage, SendingBackend
from delivery.services import send_campaign_test
from delivery.tags import tagged_delivery_id
from newsletter.encryption import DecryptionError
from subscribers import services as subscribers
from subscribers.emails import send_confirmation
from subscribers.models import ConsentSource, Subscriber, Suppression
from tests.factories import CampaignFactory, MailingListFactory, NewsletterFactory
from tests.fake_esp import Reply

pytestmark = pytest.mark.django_db


@pytest.fixture
def newsletter():
    return NewsletterFactory(slug="kernel", name="Kernel News", from_email="news@example.org")


@pytest.fixture
def campaign(newsletter):
    releases = MailingListFactory(newsletter=newsletter, slug="releases")
    for name in ("Ada", "Grace", "Linus", "Margaret", "Ken"):
        subscribers.subscribe(
            newsletter=newsletter,
            email=f"{name.lower()}@example.org",
            name=name,
            lists=[releases],
            source=ConsentSource.DASHBOARD,
            wording="I agree.",
            attestation="test",
        )
    campaign = CampaignFactory(newsletter=newsletter, subject="News for {{ subscriber.name }}")
    campaign.lists.set([releases])
    return campaign


def configure(newsletter, kind, secrets, **values):
    return sending_backends.sending_backend_save(
        newsletter=newsletter,
        values={"kind": kind, "active": True, **values},
        new_secrets=secrets,
    )


def send_all(campaign):
    lifecycle.campaign_start(campaign=campaign)
    while sending.send_batches(campaign_id=campaign.pk):
        pass


def statuses():
    return dict(Delivery.objects.values_list("subscriber__email", "status"))


# Secrets at rest


def raw_secrets_column(backend) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT secrets FROM delivery_sendingbackend WHERE id = %s", [backend.pk])
        return cursor.fetchone()[0]


def test_secrets_are_stored_encrypted_and_kept_when_left_blank(newsletter):
    backend = configure(newsletter, BackendKind.MAILGUN, {"api_key": "key-s3cr3t-value"})
    stored = raw_secrets_column(backend)
    assert "s3cr3t" not in stored
    assert "s3cr3t" not in base64.urlsafe_b64decode(stored + "==").decode("latin-1")

    configure(newsletter, BackendKind.MAILGUN, {}, rate_per_second=5)
    backend.refresh_from_db()
    assert backend.rate_per_second == 5
    assert transports.read_secrets(backend) == {"api_key": "key-s3cr3t-value"}


def test_changing_service_drops_the_old_secrets_and_requires_new_ones(newsletter):
    configure(newsletter, BackendKind.MAILGUN, {"api_key": "key-one"})
    with pytest.raises(sending_backends.BackendConfigError, match="server token"):
        configure(newsletter, BackendKind.POSTMARK, {})
    backend = configure(newsletter, BackendKind.POSTMARK, {"server_token": "pm-token"})
    assert transports.read_secrets(backend) == {"server_token": "pm-token"}


def test_rotation_re_encrypts_under_the_new_first_key(newsletter, settings):
    settings.ENCRYPTION_KEYS = ["old-key-material-0123456789"]
    backend = configure(newsletter, BackendKind.SENDGRID, {"api_key": "SG.secret"})
    before = raw_secrets_column(backend)

    settings.ENCRYPTION_KEYS = ["new-key-material-9876543210", "old-key-material-0123456789"]
    assert sending_backends.rotate_secrets() == 1
    assert raw_secrets_column(backend) != before

    settings.ENCRYPTION_KEYS = ["new-key-material-9876543210"]
    backend.refresh_from_db()
    assert transports.read_secrets(backend) == {"api_key": "SG.secret"}


def test_a_tampered_secret_is_refused_clearly_and_the_campaign_pauses(newsletter, campaign):
    backend = configure(newsletter, BackendKind.MAILGUN, {"api_key": "key-one"})
    token = bytearray(backend.secrets.encode())
    token[40] = ord("A") if token[40] != ord("A") else ord("B")
    SendingBackend.objects.filter(pk=backend.pk).update(secrets=token.decode())
    backend.refresh_from_db()
    with pytest.raises(DecryptionError, match="CRIER_ENCRYPTION_KEYS"):
        transports.read_secrets(backend)

    send_all(campaign)
    campaign.refresh_from_db()
    assert campaign.status == "paused"
    assert set(statuses().values()) == {DeliveryStatus.QUEUED}


# Which backend the engine uses


def test_without_an_active_backend_the_instance_default_is_used(newsletter, campaign):
    configure(newsletter, BackendKind.POSTMARK, {"server_token": "t"}, active=False)
    send_all(campaign)
    assert OutboxMessage.objects.count() == 5
    assert set(statuses().values()) == {DeliveryStatus.SENT}


# Mailgun: one call per batch, personalised by recipient-variables


def mailgun(newsletter, fake_esp, **values):
    return configure(
        newsletter,
        BackendKind.MAILGUN,
        {"api_key": "key-mailgun"},
        api_url=f"{fake_esp.url}v3/",
        sender_domain="mg.example.org",
        **values,
    )


def substitute(text: str, variables: dict) -> str:
    """What Mailgun does with %recipient.KEY% for one recipient."""
    return re.sub(r"%recipient\.([\w:-]+)%", lambda m: variables[m.group(1)], text)


def without_tokens(text: str) -> str:
    return re.sub(r"/s/(unsubscribe|prefs)/[^/]+/", r"/s/\1/TOKEN/", text)


def test_mailgun_sends_a_batch_per_call_and_each_reader_gets_their_own_message(
    newsletter, campaign, fake_esp, settings
):
    settings.SITE_URL = "https://news.example.org"
    mailgun(newsletter, fake_esp, batch_size=2)
    send_all(campaign)

    assert [len(r.form()["to"]) for r in fake_esp.requests] == [2, 2, 1]
    assert set(statuses().values()) == {DeliveryStatus.SENT}
    first = fake_esp.requests[0]
    assert first.path == "/v3/mg.example.org/messages"
    assert first.headers["Authorization"] == "Basic " + base64.b64encode(b"api:key-mailgun").decode(
        "ascii"
    )

    form = first.form()
    variables = json.loads(form["recipient-variables"][0])
    ada = Delivery.objects.select_related("subscriber").get(subscriber__email="ada@example.org")
    mine = variables["ada@example.org"]
    messages = CampaignMessages(campaign, campaign_render(campaign=campaign))
    news = campaign.lists.get()
    expected = messages.build(
        Addressee(
            ada.pk, ada.subscriber_id, "ada@example.org", "Ada", {}, news.name, list_id=news.pk
        )
    )
    assert substitute(form["subject"][0], mine) == "News for Ada"
    # Signed links carry a timestamp: compare the rest, then prove Ada's link is Ada's.
    assert without_tokens(substitute(form["text"][0], mine)) == without_tokens(expected.body)
    html = substitute(form["html"][0], mine)
    assert without_tokens(html) == without_tokens(expected.alternatives[0][0])
    assert "Hello Ada" in html
    one_click = mine["h:List-Unsubscribe"].strip("<>").removeprefix("https://news.example.org")
    response = Client().post(
        one_click, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    assert ada.subscriber.subscriptions.get().status == "unsubscribed"
    assert mine["h:Message-Id"] == f"<{ada.pk}.{campaign.pk}.crier@news.example.org>"
    assert tagged_delivery_id(mine["v:delivery"]) == ada.pk  # signed, not a bare id
    assert form["h:List-Unsubscribe-Post"] == ["List-Unsubscribe=One-Click"]
    assert ada.esp_message_id.endswith("@mg.example>")


def test_a_batch_call_carries_each_readers_own_tracked_links(newsletter, campaign, fake_esp):
    newsletter.tracking_policy = "individual"
    newsletter.save()
    campaign.body = "Read [the notes](https://example.org/notes), {{ subscriber.name }}."
    campaign.save()
    mailgun(newsletter, fake_esp, batch_size=5)
    send_all(campaign)

    form = fake_esp.requests[0].form()
    variables = json.loads(form["recipient-variables"][0])
    links = {}
    for email in ("ada@example.org", "grace@example.org"):
        html = substitute(form["html"][0], variables[email])
        links[email] = re.search(r'href="https?://[^"]*(/t/c/[^"]+/)"', html).group(1)
    assert links["ada@example.org"] != links["grace@example.org"], "a reader part each"
    for link in links.values():
        response = Client().get(link)
        assert (response.status_code, response["Location"]) == (302, "https://example.org/notes")


def test_mailgun_429_requeues_the_batch_and_it_is_sent_later(newsletter, campaign, fake_esp):
    mailgun(newsletter, fake_esp)
    fake_esp.script = [Reply(429, {"message": "Too many requests"})]
    send_all(campaign)
    assert set(statuses().values()) == {DeliveryStatus.QUEUED}
    assert all("429" in error for error in Delivery.objects.values_list("last_error", flat=True))

    Delivery.objects.update(next_attempt_at=None)
    while sending.send_batches(campaign_id=campaign.pk):
        pass
    assert set(statuses().values()) == {DeliveryStatus.SENT}
    assert len(fake_esp.requests) == 2
    assert set(Delivery.objects.values_list("attempts", flat=True)) == {2}


def test_mailgun_400_fails_the_batch_for_good(newsletter, campaign, fake_esp):
    mailgun(newsletter, fake_esp)
    fake_esp.script = [Reply(400, {"message": "'from' parameter is not a valid address"})]
    send_all(campaign)
    assert set(statuses().values()) == {DeliveryStatus.FAILED}
    assert len(fake_esp.requests) == 1
    campaign.refresh_from_db()
    assert campaign.status == "sent"


def test_a_call_whose_answer_is_lost_leaves_its_rows_uncertain(
    newsletter, campaign, fake_esp, settings
):
    settings.ANYMAIL = {"REQUESTS_TIMEOUT": 0.5}
    mailgun(newsletter, fake_esp)
    fake_esp.script = [Reply(200, {"id": "<late@mg>", "message": "Queued."}, delay=2)]
    send_all(campaign)
    assert set(statuses().values()) == {DeliveryStatus.UNCERTAIN}
    assert len(fake_esp.requests) == 1


def test_a_single_message_whose_answer_is_lost_is_uncertain_not_sent_again(
    newsletter, campaign, fake_esp, settings
):
    """One message per call (its text holds Mailgun's field syntax): a lost answer may
    mean it was sent, exactly as for a whole call, so its row is never queued again."""
    settings.ANYMAIL = {"REQUESTS_TIMEOUT": 0.5}
    campaign.body = "Write %recipient.name% in Mailgun templates."
    campaign.save()
    mailgun(newsletter, fake_esp)
    fake_esp.script = [Reply(200, {"id": "<late@mg>", "message": "Queued."}, delay=2)]
    send_all(campaign)
    assert sorted(statuses().values()) == [DeliveryStatus.SENT] * 4 + [DeliveryStatus.UNCERTAIN]
    assert len(fake_esp.requests) == 5


def test_text_containing_mailgun_field_syntax_is_sent_one_message_per_call(
    newsletter, campaign, fake_esp
):
    campaign.body = "Write %recipient.name% in Mailgun templates."
    campaign.save()
    mailgun(newsletter, fake_esp)
    send_all(campaign)
    assert [len(r.form()["to"]) for r in fake_esp.requests] == [1] * 5
    assert "Write %recipient.name%" in fake_esp.requests[0].form()["text"][0]


# SendGrid: one call per batch with substitutions


def test_sendgrid_batch_carries_one_personalization_per_reader(newsletter, campaign, fake_esp):
    configure(
        newsletter,
        BackendKind.SENDGRID,
        {"api_key": "SG.key"},
        api_url=f"{fake_esp.url}v3/",
    )
    send_all(campaign)
    [request] = fake_esp.requests
    assert request.headers["Authorization"] == "Bearer SG.key"
    payload = request.json()
    by_address = {p["to"][0]["email"]: p for p in payload["personalizations"]}
    assert len(by_address) == 5
    grace = by_address["grace@example.org"]
    subject = payload["subject"]
    for key, value in grace["substitutions"].items():
        subject = subject.replace(key, value)
    assert subject == "News for Grace"
    assert grace["headers"]["X-Crier-Delivery"] == str(
        Delivery.objects.get(subscriber__email="grace@example.org").pk
    )
    assert set(statuses().values()) == {DeliveryStatus.SENT}


# Postmark: no merge fields without stored templates, so one call per message


def test_postmark_sends_each_reader_their_own_call(newsletter, campaign, fake_esp):
    configure(newsletter, BackendKind.POSTMARK, {"server_token": "pm-token"}, api_url=fake_esp.url)
    send_all(campaign)
    assert len(fake_esp.requests) == 5
    assert {r.headers["X-Postmark-Server-Token"] for r in fake_esp.requests} == {"pm-token"}
    bodies = {r.json()["To"]: r.json() for r in fake_esp.requests}
    assert "Hello Linus" in bodies["linus@example.org"]["HtmlBody"]
    assert bodies["linus@example.org"]["Subject"] == "News for Linus"
    assert set(statuses().values()) == {DeliveryStatus.SENT}


def test_postmark_inactive_recipient_fails_and_is_suppressed(newsletter, campaign, fake_esp):
    configure(newsletter, BackendKind.POSTMARK, {"server_token": "pm-token"}, api_url=fake_esp.url)
    fake_esp.script = [
        Reply(
            422,
            {
                "ErrorCode": 406,
                "Message": "You tried to send to recipient(s) that have been marked as "
                "inactive.\n Found inactive addresses: ada@example.org.\n Inactive "
                "recipients are ones that have generated a hard bounce or a spam complaint.",
            },
        )
    ]
    send_all(campaign)
    assert statuses()["ada@example.org"] == DeliveryStatus.FAILED
    assert Suppression.objects.count() == 1
    assert list(statuses().values()).count(DeliveryStatus.SENT) == 4


# Quotas


def test_an_hourly_quota_sends_what_fits_and_defers_the_rest(
    newsletter, campaign, fake_esp, redis_client
):
    configure(
        newsletter,
        BackendKind.POSTMARK,
        {"server_token": "pm-token"},
        api_url=fake_esp.url,
        rate_per_hour=2,
    )
    send_all(campaign)
    assert len(fake_esp.requests) == 2
    waiting = Delivery.objects.filter(status=DeliveryStatus.QUEUED)
    assert waiting.count() == 3
    assert all(row.next_attempt_at is not None and row.attempts == 0 for row in waiting)
    campaign.refresh_from_db()
    assert campaign.status == "sending"


def test_the_rotation_command_reports_and_refuses_unreadable_secrets(newsletter, settings):
    settings.ENCRYPTION_KEYS = ["old-key"]
    configure(newsletter, BackendKind.MAILGUN, {"api_key": "key-one"})
    settings.ENCRYPTION_KEYS = ["new-key", "old-key"]
    out = StringIO()
    call_command("rotate_encryption_keys", stdout=out)
    assert "1 sending backend" in out.getvalue()

    settings.ENCRYPTION_KEYS = ["third-key"]
    with pytest.raises(CommandError, match="Nothing was changed"):
        call_command("rotate_encryption_keys")


def test_per_domain_limits_are_counted_per_backend_and_domain(
    newsletter, campaign, fake_esp, redis_client
):
    backend = configure(
        newsletter,
        BackendKind.POSTMARK,
        {"server_token": "pm-token"},
        api_url=fake_esp.url,
        domain_rate_per_minute=60000,
        rate_per_second=1000,
    )
    send_all(campaign)
    assert set(statuses().values()) == {DeliveryStatus.SENT}
    keys = {key.decode() for key in redis_client.keys("crier:throttle:*")}
    assert keys == {
        f"crier:throttle:backend:{backend.pk}",
        f"crier:throttle:backend:{backend.pk}:domain:example.org",
    }


def test_confirmations_and_campaign_tests_leave_through_the_newsletters_backend(
    newsletter, campaign, fake_esp
):
    configure(newsletter, BackendKind.POSTMARK, {"server_token": "pm-token"}, api_url=fake_esp.url)
    subscribers.subscribe(
        newsletter=newsletter,
        email="new@example.org",
        lists=list(campaign.lists.all()),
        source=ConsentSource.FORM,
        wording="I agree.",
    )
    person = Subscriber.objects.get(email="new@example.org")
    assert send_confirmation(subscriber_id=person.pk, newsletter_id=newsletter.pk)
    assert send_campaign_test(campaign_id=campaign.pk, to=["me@example.org"], requested_by="o")
    assert [r.json()["To"] for r in fake_esp.requests] == ["new@example.org", "me@example.org"]
    assert not OutboxMessage.objects.exists()


# Amazon SES: SES v2 SendEmail through boto3, one raw message per call


def amazon_ses(newsletter, fake_esp):
    return configure(
        newsletter,
        BackendKind.AMAZON_SES,
        {"aws_access_key_id": "AKIATESTKEY", "aws_secret_access_key": "ses-secret"},
        api_url=fake_esp.url.rstrip("/"),
        region="eu-west-1",
    )


def test_amazon_ses_sends_signed_raw_messages(newsletter, campaign, fake_esp):
    amazon_ses(newsletter, fake_esp)
    send_all(campaign)
    assert len(fake_esp.requests) == 5
    request = fake_esp.requests[0]
    assert request.path == "/v2/email/outbound-emails"
    assert "Credential=AKIATESTKEY/" in request.headers["Authorization"]
    assert "/eu-west-1/ses/aws4_request" in request.headers["Authorization"]
    raw = base64.b64decode(request.json()["Content"]["Raw"]["Data"])
    assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in raw
    assert set(statuses().values()) == {DeliveryStatus.SENT}
    assert all(
        mid.startswith("0102") for mid in Delivery.objects.values_list("esp_message_id", flat=True)
    )


def test_amazon_ses_refusal_fails_for_good(newsletter, campaign, fake_esp):
    amazon_ses(newsletter, fake_esp)
    fake_esp.reply = lambda request: Reply(400, {"message": "Email address is not verified."})
    send_all(campaign)
    assert set(statuses().values()) == {DeliveryStatus.FAILED}
    assert "not verified" in Delivery.objects.first().last_error


def test_amazon_ses_needs_a_region(newsletter):
    with pytest.raises(sending_backends.BackendConfigError, match="region"):
        configure(
            newsletter,
            BackendKind.AMAZON_SES,
            {"aws_access_key_id": "AKIA", "aws_secret_access_key": "s"},
        )
