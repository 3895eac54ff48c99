"""What the tracking does to the mail a subscriber receives, per policy."""

import pytest

from campaigns.services import archive_html, campaign_render
from delivery.models import OutboxMessage
from delivery.services import send_campaign_test
from tests.factories import SubscriberFactory
from tracking import tokens
from tracking.models import Link

from .conftest import BODY, SITE, make_campaign, send_to, tracking_urls

pytestmark = pytest.mark.django_db


def test_off_leaves_the_mail_untouched(subscriber):
    campaign = make_campaign("off")
    _, html = send_to(campaign, subscriber)
    assert tracking_urls(html) == {"open": [], "click": []}
    assert 'href="https://docs.example.org/"' in html
    assert not Link.objects.exists()


def test_aggregate_rewrites_web_links_only_and_the_same_for_everyone(subscriber):
    campaign = make_campaign("aggregate")
    _, first = send_to(campaign, subscriber)
    _, second = send_to(campaign, SubscriberFactory())
    urls = tracking_urls(first)
    assert urls == tracking_urls(second)
    assert len(urls["open"]) == 1
    # Two distinct links (one of them twice) and the hidden one.
    assert len(urls["click"]) == 4 and len(set(urls["click"])) == 3
    assert {claim.delivery_id for claim in claims(first)} == {0}
    assert list(Link.objects.filter(campaign=campaign).values_list("url", flat=True)) == [
        "https://example.org/notes?a=1&b=2",
        "https://docs.example.org/",
    ]
    assert 'href="mailto:team@example.org"' in first
    assert f'href="{SITE}/s/unsubscribe/' in first and f'href="{SITE}/s/prefs/' in first


def claims(html: str) -> list[tokens.Claim]:
    """What every tracking URL in a message claims; a URL no kind accepts is skipped."""
    urls = tracking_urls(html)
    found = []
    for path in urls["open"] + urls["click"]:
        token = path.split("/")[3].removesuffix(".gif")
        for kind in (tokens.OPEN, tokens.CLICK, tokens.SCANNER):
            if claim := tokens.read(kind, token):
                found.append(claim)
    return found


def test_individual_tokens_carry_the_delivery_unless_the_subscriber_opted_out(subscriber):
    campaign = make_campaign("individual")
    delivery, html = send_to(campaign, subscriber)
    _, private = send_to(campaign, SubscriberFactory(tracking_opt_out=True))
    personal, anonymous = claims(html), claims(private)
    assert len(personal) == len(anonymous) == 5  # pixel, 3 links (one twice), hidden link
    assert {claim.delivery_id for claim in personal} == {delivery.pk}
    assert {claim.delivery_id for claim in anonymous} == {0}
    assert {claim.kind for claim in personal} == {tokens.OPEN, tokens.CLICK, tokens.SCANNER}


def test_the_web_version_previews_and_test_sends_carry_no_tracking(subscriber, settings):
    campaign = make_campaign("individual")
    send_to(campaign, subscriber)
    assert "/t/" not in archive_html(campaign=campaign)
    rendered = campaign_render(campaign=campaign)
    assert f"{SITE}/t/" not in rendered.html.source()
    send_campaign_test(campaign_id=campaign.pk, to=["editor@example.org"], requested_by="test")
    assert f"{SITE}/t/" not in OutboxMessage.objects.get().body("html")
    assert BODY  # the sample body has web links, so the checks above can fail
