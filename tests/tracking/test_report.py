"""The campaign report page and its CSV: what a member sees, and what it costs to read."""

import csv
import io
import json
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from api.services import issue_token
from campaigns.models import Status
from delivery.models import BackendKind, BounceType, Delivery, SendingBackend
from newsletter.models import Role
from subscribers.models import Subscriber, SubscriberStatus
from tests.factories import (
    CampaignFactory,
    MembershipFactory,
    SubscriberFactory,
    UserFactory,
)
from tracking.models import HourlyCount

from .conftest import SENT_AT, sent_campaign

pytestmark = pytest.mark.django_db


def member(campaign, role: str = Role.VIEWER):
    return MembershipFactory(newsletter=campaign.newsletter, role=role).user


def report_url(campaign, name: str = "campaign_report") -> str:
    return reverse(f"dashboard:{name}", args=[campaign.newsletter.slug, campaign.pk])


def count(response, key: str) -> str:
    """The figure shown in the element marked data-count=KEY."""
    html = response.content.decode()
    marker = f'data-count="{key}">'
    assert marker in html, f"{key} is not on the page"
    return html.split(marker, 1)[1].split("<", 1)[0]


def test_a_viewer_sees_delivery_outcomes_and_engagement_from_the_rollups(client):
    campaign, _ = sent_campaign()
    client.force_login(member(campaign))
    response = client.get(report_url(campaign))
    assert response.status_code == 200
    shown = {
        key: count(response, key)
        for key in (
            "recipients",
            "sent",
            "delivered",
            "bounced_hard",
            "bounced_soft",
            "complained",
            "unsubscribed",
            "opens_human",
            "opens_machine",
            "opens_total",
            "clicks_human",
            "clicks_machine",
        )
    }
    assert shown == {
        "recipients": "6",
        "sent": "6",
        "delivered": "4",
        "bounced_hard": "1",
        "bounced_soft": "1",
        "complained": "1",
        "unsubscribed": "0",
        "opens_human": "40",
        "opens_machine": "25",
        "opens_total": "65",
        "clicks_human": "12",
        "clicks_machine": "3",
    }
    # Aggregate tracking counts no individuals, so there is no unique count to show.
    assert b'data-count="unique_opens_human"' not in response.content
    assert b'data-chart="timeline-data"' in response.content
    assert b'id="timeline-data"' in response.content


def test_unique_counts_are_shown_when_the_newsletter_tracks_individually(client):
    campaign, _ = sent_campaign("individual")
    client.force_login(member(campaign))
    response = client.get(report_url(campaign))
    assert (count(response, "unique_opens_human"), count(response, "unique_clicks_human")) == (
        "30",
        "9",
    )


def test_tracking_off_is_said_plainly_instead_of_zeros(client):
    campaign, _ = sent_campaign("off")
    client.force_login(member(campaign))
    response = client.get(report_url(campaign))
    assert b'data-tracking="off"' in response.content
    assert b"Tracking is off for this newsletter" in response.content
    assert b'data-count="opens_human"' not in response.content
    assert b"data-chart=" not in response.content
    assert count(response, "bounced_hard") == "1"  # delivery outcomes do not need tracking


def test_the_click_map_gives_each_link_its_clicks_and_share(client):
    campaign, _ = sent_campaign()
    client.force_login(member(campaign))
    html = client.get(report_url(campaign)).content.decode()
    rows = html.split('<td class="link-url">')[1:]
    assert len(rows) == 2
    assert rows[0].startswith("https://example.org/notes")
    assert "60.0 %" in rows[0] and "40.0 %" in rows[1]
    assert "=HYPERLINK(&quot;https://evil.example/&quot;,&quot;x&quot;)" in rows[1]


def test_bounces_and_complaints_are_listed_with_reasons_and_erased_addresses_hidden(client):
    campaign, hard = sent_campaign()
    erased = Subscriber.objects.get(pk=hard.subscriber_id)
    Subscriber.objects.filter(pk=erased.pk).update(email=None, status=SubscriberStatus.ERASED)
    client.force_login(member(campaign))
    html = client.get(report_url(campaign)).content.decode()
    table = html.split('id="problems-title"', 1)[1]
    assert "550 5.1.1 &lt;recipient&gt;: no such user" in table  # from the ESP's event
    assert "452 4.2.2 Mailbox full" in table  # from the row once events are gone
    assert "Erased subscriber" in table and erased.email not in table
    spam = Delivery.objects.get(campaign=campaign, complained_at__isnull=False)
    assert spam.subscriber.email in table
    # Newest first: the spam report came hours after the bounces.
    assert table.index("Marked as spam") < table.index("Soft bounce") < table.index("Hard bounce")


def test_outsiders_get_404_and_anonymous_visitors_are_sent_to_log_in(client):
    campaign, _ = sent_campaign()
    for name in ("campaign_report", "campaign_report_csv"):
        assert client.get(report_url(campaign, name)).status_code == 302
        client.force_login(UserFactory())
        assert client.get(report_url(campaign, name)).status_code == 404
        client.logout()
    client.force_login(member(CampaignFactory()))
    assert client.get(report_url(campaign)).status_code == 404


def test_the_csv_has_the_summary_the_links_and_the_timeline_with_formulas_escaped(client):
    campaign, _ = sent_campaign("individual")
    client.force_login(member(campaign))
    response = client.get(report_url(campaign, "campaign_report_csv"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    blank = [index for index, row in enumerate(rows) if not row]
    summary = dict(rows[1 : blank[0]])
    links = rows[blank[0] + 1 : blank[1]]
    timeline = rows[blank[1] + 1 :]
    assert summary["recipients"] == "6"
    assert (summary["delivered"], summary["bounced_hard"], summary["complained"]) == ("4", "1", "1")
    assert (summary["opens_human"], summary["opens_machine"]) == ("40", "25")
    assert summary["unique_clicks_human"] == "9"
    assert links[0] == ["position", "url", "clicks_human", "clicks_machine"]
    assert links[1] == ["0", "https://example.org/notes", "9", "0"]
    assert links[2] == ["1", '\'=HYPERLINK("https://evil.example/","x")', "3", "3"]
    assert timeline[0][0] == "period_start"
    assert [row[1] for row in timeline[1:]] == ["1", "1", "24"]
    assert sum(int(row[2]) for row in timeline[1:]) == 35


def test_the_csv_of_an_untracked_newsletter_has_the_delivery_summary_only(client):
    campaign, _ = sent_campaign("off")
    client.force_login(member(campaign))
    rows = list(
        csv.reader(
            io.StringIO(client.get(report_url(campaign, "campaign_report_csv")).content.decode())
        )
    )
    assert [] not in rows
    summary = dict(rows[1:])
    assert summary["tracking_policy"] == "off"
    assert "opens_human" not in summary and summary["bounced_soft"] == "1"


def queries_for(client, campaign) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(report_url(campaign)).status_code == 200
    return len(captured)


def test_the_page_reads_the_same_few_queries_whatever_the_number_of_deliveries(client):
    small, _ = sent_campaign(recipients=4)
    large, _ = sent_campaign(recipients=60)
    # Many more bounces on the large one: the table still shows them in one read.
    Delivery.objects.filter(campaign=large, delivered_at__isnull=True).update(
        bounced_at=SENT_AT, bounce_type=BounceType.SOFT
    )
    Delivery.objects.filter(campaign=large).exclude(bounce_type="").update(complained_at=SENT_AT)
    user = UserFactory()
    for campaign in (small, large):
        MembershipFactory(newsletter=campaign.newsletter, user=user, role=Role.VIEWER)
    client.force_login(user)
    queries_for(client, small)  # warm the session and the rate snapshot
    # 18: one asks whether the campaign has editions (the report splits by them), one
    # whether it ran an experiment (its section).
    assert queries_for(client, small) == queries_for(client, large) <= 18


def test_the_api_stats_add_delivery_outcomes_beside_the_existing_keys(client):
    campaign, _ = sent_campaign()
    Delivery.objects.filter(campaign=campaign, bounce_type=BounceType.SOFT).update(
        esp_unsubscribed_at=SENT_AT, rejected_at=SENT_AT
    )
    user = member(campaign)
    _, raw = issue_token(user=user, newsletter=campaign.newsletter, role=Role.VIEWER)
    body = client.get(
        f"/api/v1/campaigns/{campaign.pk}/stats/", HTTP_AUTHORIZATION=f"Bearer {raw}"
    ).json()
    assert {
        key: body[key]
        for key in (
            "delivered",
            "bounced_hard",
            "bounced_soft",
            "complained",
            "rejected",
            "unsubscribed",
        )
    } == {
        "delivered": 4,
        "bounced_hard": 1,
        "bounced_soft": 1,
        "complained": 1,
        "rejected": 1,
        "unsubscribed": 1,
    }
    assert (body["total"], body["sent"], body["opens"]["human"]) == (6, 6, 40)
    assert body["links"][0]["url"] == "https://example.org/notes"


def test_started_campaigns_link_to_their_report_and_drafts_say_they_are_not_sent(client):
    campaign, _ = sent_campaign()
    draft = CampaignFactory(newsletter=campaign.newsletter, name="Next one")
    client.force_login(member(campaign))
    slug = campaign.newsletter.slug
    listing = client.get(reverse("dashboard:campaign_list", args=[slug])).content.decode()
    assert report_url(campaign) in listing and report_url(draft) not in listing
    for page in ("campaign_sending", "campaign_preview"):
        html = client.get(reverse(f"dashboard:{page}", args=[slug, campaign.pk])).content.decode()
        assert report_url(campaign) in html
    assert b"data-not-sent" not in client.get(report_url(campaign)).content
    response = client.get(report_url(draft))
    assert response.status_code == 200 and b"data-not-sent" in response.content
    assert b"No bounces or spam reports." in response.content


def chart_of(response) -> dict:
    return json.loads(
        response.content.decode()
        .split('id="timeline-data" type="application/json">', 1)[1]
        .split("</script>", 1)[0]
    )


def test_the_timeline_spans_the_campaigns_period_in_its_time_zone(client):
    campaign, _ = sent_campaign()
    campaign.newsletter.timezone = "America/New_York"
    campaign.newsletter.save()
    client.force_login(member(campaign))
    chart = chart_of(client.get(report_url(campaign)))
    # Sending started at 08:59 UTC: hits at 09:00 and 10:00 hourly, then a day from 09:00
    # two days later, when the hourly span ends.
    assert chart["range"] == ["2026-03-01T08:00:00Z", "2026-03-04T09:00:00Z"]
    assert chart["x"] == ["2026-03-01T09:30:00Z", "2026-03-01T10:30:00Z", "2026-03-03T21:00:00Z"]
    assert chart["timezone"] == "America/New_York"
    page = client.get(report_url(campaign)).content.decode()
    assert "times in the newsletter's time zone (America/New_York)" in page


def test_a_campaign_sent_minutes_ago_has_an_axis_of_an_hour_not_years(client):
    campaign = CampaignFactory(status=Status.SENT, recipient_count=1)
    now = timezone.now()
    Delivery.objects.create(
        campaign=campaign,
        subscriber=SubscriberFactory(),
        status="sent",
        created_at=now - timedelta(minutes=5),
    )
    hour = now.replace(minute=0, second=0, microsecond=0)
    HourlyCount.objects.create(campaign=campaign, hour=hour, opens_human=1)
    client.force_login(member(campaign))
    chart = chart_of(client.get(report_url(campaign)))
    start, end = (datetime.fromisoformat(moment) for moment in chart["range"])
    assert start <= now - timedelta(minutes=5) and now <= end
    assert end - start <= timedelta(hours=2)
    (point,) = chart["x"]
    assert start < datetime.fromisoformat(point) < end


def test_a_zero_delivered_says_when_the_backend_never_reports_deliveries(client, settings):
    campaign, _ = sent_campaign()
    Delivery.objects.filter(campaign=campaign).update(delivered_at=None)
    client.force_login(member(campaign))
    settings.EMAIL_BACKEND = "delivery.backends.outbox.EmailBackend"
    page = client.get(report_url(campaign)).content.decode()
    assert 'data-note="no-delivery-reports"' in page
    assert "does not tell when mail arrives, so Delivered stays at 0" in page

    settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    assert (
        'data-note="no-delivery-reports"' not in client.get(report_url(campaign)).content.decode()
    )
    settings.EMAIL_BACKEND = "delivery.backends.outbox.EmailBackend"
    SendingBackend.objects.create(
        newsletter=campaign.newsletter, kind=BackendKind.MAILGUN, active=True
    )
    assert (
        'data-note="no-delivery-reports"' not in client.get(report_url(campaign)).content.decode()
    )
