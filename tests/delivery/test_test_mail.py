"""Test messages go to any address a member types: a rate limit per member and
newsletter (dashboard and API together), and a List-Unsubscribe with which the
recipient stops test mail from that newsletter."""

from email import message_from_bytes, policy
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from api.services import issue_token
from delivery import sending_backends, tasks
from delivery.models import BackendKind, OutboxMessage, SendingBackend, TestMailRefusal
from delivery.services import send_campaign_test
from newsletter import network
from newsletter.models import Role
from subscribers.models import address_digest
from tests.api.conftest import ApiClient
from tests.factories import CampaignFactory, MembershipFactory, NewsletterFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def editor(client, settings, redis_client):
    settings.TEST_MAILS_PER_HOUR = 3
    membership = MembershipFactory(role=Role.OWNER)
    client.force_login(membership.user)
    client.membership = membership
    return client


def dashboard_test(client, campaign, to: str):
    return client.post(
        reverse("dashboard:campaign_test_send", args=[campaign.newsletter.slug, campaign.pk]),
        {"to": to},
        follow=True,
    ).content.decode()


@pytest.fixture
def queued(monkeypatch):
    """The test sends queued (each a task, after the commit)."""
    calls = []
    monkeypatch.setattr(
        tasks.send_campaign_test, "delay_on_commit", lambda *args: calls.append(args)
    )
    return calls


def test_a_member_sends_a_few_test_messages_per_hour_and_no_more(editor, queued):
    campaign = CampaignFactory(newsletter=editor.membership.newsletter)
    page = dashboard_test(editor, campaign, "a@example.org, b@example.org")
    assert "Test queued for a@example.org, b@example.org" in page
    # Two more would pass the limit of three: refused whole, and nothing is used up.
    page = dashboard_test(editor, campaign, "c@example.org, d@example.org")
    assert "You can send 3 test messages per hour for this newsletter" in page
    assert "Test queued for c@example.org" not in page
    assert "Test queued for c@example.org" in dashboard_test(editor, campaign, "c@example.org")
    assert "You can send 3" in dashboard_test(editor, campaign, "e@example.org")
    assert [to for _, to, _ in queued] == [["a@example.org", "b@example.org"], ["c@example.org"]]


def test_the_api_shares_the_members_allowance_and_answers_429(editor, queued):
    newsletter = editor.membership.newsletter
    campaign = CampaignFactory(newsletter=newsletter)
    dashboard_test(editor, campaign, "a@example.org, b@example.org")
    _, raw = issue_token(user=editor.membership.user, newsletter=newsletter, role=Role.EDITOR)
    api = ApiClient(raw)
    url = f"/api/v1/campaigns/{campaign.pk}/test/"
    assert api.post(url, {"to": ["c@example.org"]}).status_code == 202
    refused = api.post(url, {"to": ["d@example.org"]})
    assert refused.status_code == 429
    assert "test messages per hour" in refused.json()["errors"]["to"][0]


def test_the_allowance_is_per_member_and_per_newsletter(editor, redis_client):
    newsletter = editor.membership.newsletter
    campaign = CampaignFactory(newsletter=newsletter)
    dashboard_test(editor, campaign, "a@example.org, b@example.org, c@example.org")
    assert "You can send 3" in dashboard_test(editor, campaign, "d@example.org")
    # Another member of the same newsletter has their own allowance…
    other = MembershipFactory(newsletter=newsletter, role=Role.EDITOR)
    client = Client()
    client.force_login(other.user)
    assert "Test queued for d@example.org" in dashboard_test(client, campaign, "d@example.org")
    # …and so has the same member in another newsletter.
    elsewhere = MembershipFactory(user=editor.membership.user, role=Role.EDITOR)
    campaign_elsewhere = CampaignFactory(newsletter=elsewhere.newsletter)
    page = dashboard_test(editor, campaign_elsewhere, "d@example.org")
    assert "Test queued for d@example.org" in page


def test_a_backend_test_counts_against_the_same_allowance(editor, redis_client, monkeypatch):
    monkeypatch.setattr(network, "resolve", lambda host, port: ["93.184.215.14"])
    newsletter = editor.membership.newsletter
    sending_backends.sending_backend_save(
        newsletter=newsletter,
        values={"kind": BackendKind.SMTP, "host": "smtp.example.org"},
        new_secrets={},
    )
    campaign = CampaignFactory(newsletter=newsletter)
    dashboard_test(editor, campaign, "a@example.org, b@example.org, c@example.org")
    page = editor.post(
        reverse("dashboard:sending_backend_test", args=[newsletter.slug]),
        {"to": "d@example.org"},
        follow=True,
    ).content.decode()
    assert "You can send 3 test messages per hour" in page
    assert SendingBackend.objects.get().last_test_at is None


def stop_link(message: OutboxMessage) -> str:
    return urlsplit(message.parsed()["List-Unsubscribe"].strip().strip("<>")).path


def test_a_test_message_lets_its_recipient_stop_test_mail(settings):
    settings.SITE_URL = "https://news.example.org"
    campaign = CampaignFactory()
    newsletter = campaign.newsletter
    assert send_campaign_test(campaign_id=campaign.pk, to=["x@example.org"], requested_by="e") == 1
    message = OutboxMessage.objects.get()
    parsed = message.parsed()
    assert (
        parsed["List-Unsubscribe"].strip().startswith("<https://news.example.org/test-mail/stop/")
    )
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    path = stop_link(message)

    page = Client().get(path)  # a link scanner's visit changes nothing
    assert "Stop test messages" in page.content.decode()
    assert not TestMailRefusal.objects.exists()

    one_click = Client().post(
        path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert one_click.status_code == 200
    refusal = TestMailRefusal.objects.get()
    assert (refusal.newsletter, refusal.address_digest) == (
        newsletter,
        address_digest("x@example.org"),
    )
    assert Client().post(path).status_code == 200  # twice is fine

    # The next test skips that address, but not others, and not other newsletters.
    assert send_campaign_test(campaign_id=campaign.pk, to=["x@example.org"], requested_by="e") == 0
    sent = send_campaign_test(
        campaign_id=campaign.pk, to=["x@example.org", "y@example.org"], requested_by="e"
    )
    assert sent == 1
    other = CampaignFactory(newsletter=NewsletterFactory())
    assert send_campaign_test(campaign_id=other.pk, to=["x@example.org"], requested_by="e") == 1


def test_members_are_told_an_address_refuses_test_mail(editor, queued):
    campaign = CampaignFactory(newsletter=editor.membership.newsletter)
    TestMailRefusal.objects.create(
        newsletter=campaign.newsletter, address_digest=address_digest("x@example.org")
    )
    page = dashboard_test(editor, campaign, "x@example.org")
    assert "x@example.org asked to receive no test messages from this newsletter." in page
    assert queued == []


def test_a_backend_test_message_carries_the_stop_link_and_respects_it(settings, smtp_sink):
    settings.SENDING_ALLOW_PRIVATE_HOSTS = True
    newsletter = NewsletterFactory()
    backend = sending_backends.sending_backend_save(
        newsletter=newsletter,
        values={
            "kind": BackendKind.SMTP,
            "host": "127.0.0.1",
            "port": smtp_sink.port,
            "security": "none",
        },
        new_secrets={},
    )
    assert sending_backends.test_send(backend_id=backend.pk, to="x@example.org", requested_by="o")
    sent = message_from_bytes(smtp_sink.handler.received[0].data, policy=policy.default)
    assert "/test-mail/stop/" in sent["List-Unsubscribe"]
    assert sent["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    TestMailRefusal.objects.create(
        newsletter=newsletter, address_digest=address_digest("x@example.org")
    )
    assert not sending_backends.test_send(
        backend_id=backend.pk, to="x@example.org", requested_by="o"
    )
    assert len(smtp_sink.handler.received) == 1
    backend.refresh_from_db()
    assert "asked to receive no test messages" in backend.last_test_detail


@pytest.mark.parametrize("token", ["nonsense", "eyJuIjoxfQ:forged:signature"])
def test_a_bad_stop_link_changes_nothing(client, token):
    assert client.post(f"/test-mail/stop/{token}/").status_code == 400
    assert not TestMailRefusal.objects.exists()
