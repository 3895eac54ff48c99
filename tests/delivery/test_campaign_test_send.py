import pytest

from delivery.models import OutboxMessage
from delivery.services import send_campaign_test
from delivery.tasks import send_campaign_test as send_campaign_test_task
from tests.factories import CampaignFactory

pytestmark = pytest.mark.django_db


def test_each_address_gets_its_own_test_copy_marked_test():
    campaign = CampaignFactory(newsletter__reply_to="team@example.org")
    sent = send_campaign_test(
        campaign_id=campaign.pk, to=["a@example.org", "b@example.org"], requested_by="ada"
    )
    assert sent == 2
    messages = list(OutboxMessage.objects.order_by("id"))
    assert [m.recipients for m in messages] == [["a@example.org"], ["b@example.org"]]
    first = messages[0].parsed()
    assert first["Subject"] == "[TEST] Project 2.0 is out"
    assert first["From"] == campaign.newsletter.sender
    assert first["Reply-To"] == "team@example.org"
    # A test address has no subscription: its List-Unsubscribe stops test mail instead.
    assert "/test-mail/stop/" in first["List-Unsubscribe"]
    assert "Hello Ada Lovelace," in messages[0].body("plain")
    assert "Hello Ada Lovelace," in messages[0].body("html")
    assert "Unsubscribe" in messages[0].body("html")


def test_a_campaign_that_does_not_render_sends_nothing():
    campaign = CampaignFactory(body="{{ nope }}")
    assert send_campaign_test(campaign_id=campaign.pk, to=["a@example.org"], requested_by="x") == 0
    assert not OutboxMessage.objects.exists()


def test_the_task_travels_on_the_send_queue(redis_client):
    send_campaign_test_task.delay(1, ["a@example.org"], "ada")
    assert redis_client.llen("send") == 1
