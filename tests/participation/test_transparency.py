"""The transparency page: opt-in, from rollups, no figure under 5, nothing about a person."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import Status
from participation.models import AudienceMonth, IssueFigures, ParticipationSettings, WordingUse
from participation.services import consultations, transparency
from participation.services.consultations import QuestionSpec
from subscribers import services as subscriber_services
from subscribers import tokens
from subscribers.models import ConsentEvent, ConsentSource
from tests.factories import CampaignFactory
from tracking.models import CampaignCount

from .conftest import reader

pytestmark = pytest.mark.django_db


def publish(newsletter):
    ParticipationSettings.objects.create(newsletter=newsletter, transparency_page=True)


@pytest.fixture
def audience(newsletter, news):
    """Seven readers, two of whom left; an issue sent to the seven."""
    people = [reader(newsletter, f"p{number}@example.org") for number in range(7)]
    for person in people[:2]:
        subscriber_services.unsubscribe(
            claim=tokens.Claim(person.pk, newsletter.pk), source=ConsentSource.UNSUBSCRIBE_PAGE
        )
    issue = CampaignFactory(
        newsletter=newsletter,
        subject="Demo 2.0 is out",
        status=Status.SENT,
        sent_at=timezone.now() - timedelta(days=1),
        recipient_count=7,
        public=True,
    )
    CampaignCount.objects.create(
        campaign=issue, opens_human=8, opens_machine=30, clicks_human=3, clicks_machine=9
    )
    ConsentEvent.objects.filter(action="unsubscribed").update(created_at=timezone.now())
    return people, issue


def test_the_page_exists_only_when_the_newsletter_publishes_it(client, newsletter):
    assert client.get("/n/demo/stats/").status_code == 404
    transparency.settings_update(
        newsletter=newsletter, transparency_page=True, referral_thanks=False
    )
    assert client.get("/n/demo/stats/").status_code == 200
    transparency.settings_update(
        newsletter=newsletter, transparency_page=False, referral_thanks=False
    )
    assert client.get("/n/demo/stats/").status_code == 404


def test_figures_from_the_rollups_none_under_five(client, newsletter, audience):
    people, issue = audience
    publish(newsletter)
    transparency.refresh(newsletter)
    month = AudienceMonth.objects.get(newsletter=newsletter)
    assert (month.joined, month.left, month.subscribers) == (7, 2, 5)
    figures = IssueFigures.objects.get(campaign=issue)
    assert (figures.recipients, figures.opens_human, figures.unsubscribes) == (7, 8, 2)
    assert WordingUse.objects.get(newsletter=newsletter).wording == "I agree."

    html = client.get("/n/demo/stats/").content.decode()
    assert '<strong data-figure="subscribers">5</strong>' in html
    assert '<strong data-figure="issues">fewer than 5</strong>' in html  # one issue
    assert '<strong data-figure="open-rate">114.3 %</strong>' in html  # 8 opens by people / 7
    assert '<strong data-figure="click-rate">—</strong>' in html  # 3 clicks: not shown
    assert "Demo 2.0 is out" in html and "I agree." in html
    # No cell, figure or chart value below 5 anywhere on the page.
    cells = re.findall(r"<(?:td|strong)[^>]*>(\d+)</(?:td|strong)>", html)
    assert cells and all(int(cell) >= 5 for cell in cells)
    chart = re.search(r'<script id="audience-data" type="application/json">(.*?)</script>', html)
    assert "2" not in chart.group(1).split('"values"')[2]  # "left: 2" is a gap, not a bar
    for person in people:
        assert person.email not in html


def test_machine_traffic_is_left_out_and_the_policy_explained(client, newsletter, audience):
    publish(newsletter)
    transparency.refresh(newsletter)
    html = client.get("/n/demo/stats/").content.decode()
    assert "Machines are left out" in html
    assert "counts opens and clicks per issue, never per person" in html
    newsletter.tracking_policy = "off"
    newsletter.save()
    transparency.refresh(newsletter)
    html = client.get("/n/demo/stats/").content.decode()
    assert "does not count opens or clicks at all" in html and 'data-figure="open-rate"' not in html


def test_public_consultation_results_appear_with_small_counts_hidden(client, newsletter, news):
    consultation = consultations.consultation_create(
        newsletter=newsletter,
        created_by=None,
        title="Next meetup city",
        questions=[QuestionSpec("single", "Where?", ["Paris", "Lyon"])],
        public_results=True,
    )
    question = consultation.questions.get()
    for number in range(6):
        person = reader(newsletter, f"v{number}@example.org")
        consultations.answer_record(
            consultation=consultation,
            subscriber_id=person.pk,
            question=question,
            choices=[question.choices.get(label="Paris" if number else "Lyon").pk],
        )
    publish(newsletter)
    html = client.get("/n/demo/stats/").content.decode()
    assert "Next meetup city" in html
    assert "<span data-count>5</span>" in html and "fewer than 5" in html


def test_finished_months_are_counted_once(newsletter, audience):
    publish(newsletter)
    long_ago = timezone.now() - timedelta(days=70)
    ConsentEvent.objects.filter(newsletter=newsletter, action="imported").update(
        created_at=long_ago
    )
    ConsentEvent.objects.filter(newsletter=newsletter, action="subscribed").update(
        created_at=long_ago
    )
    transparency.refresh(newsletter)
    old = AudienceMonth.objects.get(newsletter=newsletter, month=long_ago.date().replace(day=1))
    assert old.final and old.joined == 7
    ConsentEvent.objects.filter(newsletter=newsletter).update(created_at=long_ago)
    transparency.refresh(newsletter)
    old.refresh_from_db()
    assert old.left == 0  # final: not counted again


def test_the_page_reads_a_few_rows_whatever_the_audience(
    client, newsletter, audience, django_assert_max_num_queries
):
    publish(newsletter)
    transparency.refresh(newsletter)
    with django_assert_max_num_queries(10):
        assert client.get("/n/demo/stats/").status_code == 200
