import pytest
from django.urls import reverse

from newsletter.models import Role
from tests.factories import MailingListFactory, MembershipFactory

from .conftest import make_campaign

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("policy", "record_ip", "told"),
    [
        ("aggregate", False, "It stores no IP address."),
        ("individual", False, "It stores no IP address."),
        ("individual", True, "It also stores the IP address of each open and click."),
    ],
)
def test_the_public_page_tells_what_is_tracked(client, policy, record_ip, told):
    newsletter = make_campaign(policy, record_tracking_ip=record_ip).newsletter
    MailingListFactory(newsletter=newsletter, public=True)
    page = client.get(f"/n/{newsletter.slug}/").content.decode()
    assert told in page


def test_an_owner_turns_on_ip_recording_in_the_settings(client):
    membership = MembershipFactory(role=Role.OWNER)
    client.force_login(membership.user)
    newsletter = membership.newsletter
    fields = ["name", "description", "language", "timezone", "from_name", "from_email"]
    fields += ["reply_to", "postal_address", "consent_text"]
    data = {field: getattr(newsletter, field) for field in fields}
    url = reverse("dashboard:settings", args=[newsletter.slug])
    page = client.get(url).content.decode()
    assert "Record IP addresses of opens and clicks" in page
    client.post(url, {**data, "tracking_policy": "individual", "record_tracking_ip": "on"})
    newsletter.refresh_from_db()
    assert (newsletter.tracking_policy, newsletter.record_tracking_ip) == ("individual", True)
