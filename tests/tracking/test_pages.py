import pytest

from tests.factories import MailingListFactory

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
