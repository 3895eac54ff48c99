"""A campaign before it starts: scheduled, edited, unscheduled, deleted, or failing to
start (visibly, with its owners told) instead of being retried by beat forever."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from campaigns import services as campaigns
from campaigns.models import Campaign, Layout, Status
from delivery import lifecycle, sending
from delivery.models import Delivery, OutboxMessage
from subscribers import services as subscribers
from subscribers.models import ConsentSource
from tests.factories import (
    CampaignFactory,
    MailingListFactory,
    MembershipFactory,
    NewsletterFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def newsletter():
    newsletter = NewsletterFactory(slug="kernel", name="Kernel News", timezone="Europe/Paris")
    MembershipFactory(newsletter=newsletter, role="owner", user__email="owner@example.org")
    MembershipFactory(newsletter=newsletter, role="editor", user__email="editor@example.org")
    return newsletter


@pytest.fixture
def releases(newsletter):
    return MailingListFactory(newsletter=newsletter, slug="releases", name="Releases")


@pytest.fixture
def campaign(newsletter, releases):
    subscribers.subscribe(
        newsletter=newsletter,
        email="ada@example.org",
        lists=[releases],
        source=ConsentSource.DASHBOARD,
        wording="x",
        attestation="test",
    )
    campaign = CampaignFactory(newsletter=newsletter, name="Kernel 7.0")
    campaign.lists.set([releases])
    return campaign


def scheduled(campaign, minutes=60):
    return lifecycle.campaign_schedule(
        campaign=campaign, send_at=timezone.now() + timedelta(minutes=minutes)
    )


def make_due(campaign):
    Campaign.objects.filter(pk=campaign.pk).update(send_at=timezone.now() - timedelta(seconds=1))


def owner_notices():
    return [
        message
        for message in OutboxMessage.objects.all()
        if message.parsed()["To"] == "owner@example.org"
    ]


def test_an_edited_scheduled_campaign_stays_scheduled_and_starts_with_the_new_content(campaign):
    when = scheduled(campaign).send_at
    campaigns.campaign_update(campaign=campaign, subject="Kernel 7.0 is out, for real")
    campaign.refresh_from_db()
    assert (campaign.status, campaign.send_at) == (Status.SCHEDULED, when)
    make_due(campaign)
    assert lifecycle.start_due_campaigns() == [campaign.pk]
    campaign.refresh_from_db()
    assert campaign.status == Status.SENDING
    assert campaign.cached_render().subject.source() == "Kernel 7.0 is out, for real"


def test_an_edit_never_writes_back_a_status_it_read_before_a_change(campaign):
    stale = Campaign.objects.get(pk=campaign.pk)  # read as a draft
    scheduled(campaign)
    campaigns.campaign_update(campaign=stale, subject="Edited in another tab")
    assert Campaign.objects.get(pk=campaign.pk).status == Status.SCHEDULED
    lifecycle.campaign_start(campaign=campaign)
    with pytest.raises(ValidationError, match="has not started"):
        campaigns.campaign_update(campaign=stale, subject="Too late")
    assert Campaign.objects.get(pk=campaign.pk).subject == "Edited in another tab"


def test_rescheduling_needs_a_future_time_but_keeping_the_time_does_not(campaign):
    scheduled(campaign)
    make_due(campaign)
    campaign.refresh_from_db()
    # Saved with its (just passed) time unchanged: still scheduled, beat starts it.
    lifecycle.campaign_schedule(campaign=campaign, send_at=campaign.send_at)
    with pytest.raises(lifecycle.CampaignStateError, match="future"):
        lifecycle.campaign_schedule(campaign=campaign, send_at=timezone.now() - timedelta(hours=1))
    assert lifecycle.start_due_campaigns() == [campaign.pk]


def test_unschedule_returns_it_to_draft_and_beat_leaves_it_alone(campaign):
    scheduled(campaign)
    lifecycle.campaign_unschedule(campaign=campaign)
    campaign.refresh_from_db()
    assert (campaign.status, campaign.send_at) == (Status.DRAFT, None)
    assert lifecycle.start_due_campaigns() == []
    with pytest.raises(lifecycle.CampaignStateError, match="It is draft"):
        lifecycle.campaign_unschedule(campaign=campaign)


def test_a_campaign_unscheduled_while_beat_looked_is_not_started(campaign):
    scheduled(campaign)
    make_due(campaign)
    lifecycle.campaign_unschedule(campaign=campaign)
    assert lifecycle._start_scheduled(campaign.pk) is False
    assert not Delivery.objects.exists()


@pytest.mark.parametrize("cause", ["render", "no_lists", "archived", "nobody"])
def test_a_scheduled_campaign_that_cannot_start_fails_visibly_once_and_its_owners_are_told(
    campaign, releases, cause, django_capture_on_commit_callbacks
):
    scheduled(campaign)
    expected = {
        "render": "unsubscribe link",
        "no_lists": "Choose at least one list",
        "archived": "lists are all archived",
        "nobody": "Nobody would receive it",
    }[cause]
    if cause == "render":
        Layout.objects.filter(pk=campaign.layout_id).update(
            mjml=campaign.layout.mjml.replace("{{ unsubscribe_url }}", "#")
        )
    elif cause == "no_lists":
        campaign.lists.clear()
    elif cause == "archived":
        subscribers.list_archive(mailing_list=releases)
    else:
        releases.subscriptions.update(status="unsubscribed")
    make_due(campaign)

    with django_capture_on_commit_callbacks(execute=True):
        assert lifecycle.start_due_campaigns() == []
    campaign.refresh_from_db()
    assert campaign.status == Status.FAILED
    assert expected in campaign.failure_reason
    assert not Delivery.objects.exists()
    notices = owner_notices()
    assert len(notices) == 1
    assert "could not send “Kernel 7.0”" in notices[0].parsed()["Subject"]
    body = notices[0].body("plain")
    assert expected in body and f"/campaigns/{campaign.pk}/" in body
    assert "(Europe/Paris)" in body
    assert [m.parsed()["To"] for m in OutboxMessage.objects.all()] == ["owner@example.org"]

    # Beat does not try again, nor tell anyone twice.
    with django_capture_on_commit_callbacks(execute=True):
        assert lifecycle.start_due_campaigns() == []
    assert len(owner_notices()) == 1


def test_a_failed_campaign_is_fixed_and_rescheduled_or_sent(campaign, releases):
    scheduled(campaign)
    campaign.lists.clear()
    make_due(campaign)
    lifecycle.start_due_campaigns()
    campaign.refresh_from_db()
    assert campaign.status == Status.FAILED

    campaigns.campaign_update(campaign=campaign, lists=[releases])
    campaign = scheduled(campaign, minutes=5)
    assert (campaign.status, campaign.failure_reason) == (Status.SCHEDULED, "")
    make_due(campaign)
    assert lifecycle.start_due_campaigns() == [campaign.pk]
    assert Delivery.objects.count() == 1


def test_a_failed_campaign_can_also_go_back_to_draft_or_be_sent_now(campaign):
    Campaign.objects.filter(pk=campaign.pk).update(status=Status.FAILED, failure_reason="x")
    lifecycle.campaign_unschedule(campaign=campaign)
    campaign.refresh_from_db()
    assert (campaign.status, campaign.failure_reason) == (Status.DRAFT, "")
    Campaign.objects.filter(pk=campaign.pk).update(status=Status.FAILED, failure_reason="x")
    assert lifecycle.campaign_start(campaign=campaign) == 1
    campaign.refresh_from_db()
    assert (campaign.status, campaign.failure_reason) == (Status.SENDING, "")


def test_sending_now_to_nobody_is_refused_and_changes_nothing(campaign, releases):
    releases.subscriptions.update(status="unsubscribed")
    with pytest.raises(lifecycle.CampaignStateError, match="Nobody would receive it"):
        lifecycle.campaign_start(campaign=campaign)
    campaign.refresh_from_db()
    assert (campaign.status, campaign.recipient_count) == (Status.DRAFT, None)


def test_archived_lists_are_left_out_of_a_send(newsletter, campaign, releases):
    other = MailingListFactory(newsletter=newsletter, slug="security")
    subscribers.subscribe(
        newsletter=newsletter,
        email="grace@example.org",
        lists=[other],
        source=ConsentSource.DASHBOARD,
        wording="x",
        attestation="test",
    )
    campaign.lists.add(other)
    subscribers.list_archive(mailing_list=other)
    assert lifecycle.campaign_start(campaign=campaign) == 1
    assert list(Delivery.objects.values_list("subscriber__email", flat=True)) == ["ada@example.org"]


@pytest.mark.parametrize("status", [Status.DRAFT, Status.SCHEDULED, Status.FAILED])
def test_a_campaign_that_never_started_can_be_deleted(newsletter, status):
    campaign = CampaignFactory(newsletter=newsletter, status=status)
    lifecycle.campaign_delete(campaign=campaign)
    assert not Campaign.objects.filter(pk=campaign.pk).exists()


def test_a_campaign_cancelled_before_it_started_can_be_deleted(campaign):
    scheduled(campaign)
    lifecycle.campaign_cancel(campaign=campaign)
    lifecycle.campaign_delete(campaign=campaign)
    assert not Campaign.objects.filter(pk=campaign.pk).exists()


@pytest.mark.parametrize("then", ["sending", "paused", "cancelled", "sent"])
def test_a_campaign_with_delivery_rows_is_never_deleted(campaign, then):
    lifecycle.campaign_start(campaign=campaign)
    if then == "paused":
        lifecycle.campaign_pause(campaign=campaign)
    elif then == "cancelled":
        lifecycle.campaign_cancel(campaign=campaign)
    elif then == "sent":
        while sending.send_batches(campaign_id=campaign.pk):
            pass
    campaign.refresh_from_db()
    assert campaign.status == then
    with pytest.raises(lifecycle.CampaignStateError, match="never started"):
        lifecycle.campaign_delete(campaign=campaign)
    assert Campaign.objects.filter(pk=campaign.pk).exists()
    assert Delivery.objects.filter(campaign=campaign).count() == 1


def test_duplicate_copies_content_layout_and_active_lists_into_a_new_draft(
    newsletter, campaign, releases
):
    archived = MailingListFactory(newsletter=newsletter, slug="old")
    campaign.lists.add(archived)
    subscribers.list_archive(mailing_list=archived)
    lifecycle.campaign_start(campaign=campaign)
    copy = campaigns.campaign_duplicate(campaign=campaign, created_by=None)
    assert copy.pk != campaign.pk
    assert (copy.status, copy.send_at, copy.recipient_count) == (Status.DRAFT, None, None)
    assert copy.name == "Kernel 7.0 (copy)"
    assert copy.slug and copy.slug != campaign.slug
    for field in ("subject", "preheader", "layout_id", "body_format", "body", "public"):
        assert getattr(copy, field) == getattr(campaign, field), field
    assert list(copy.lists.all()) == [releases]
    assert not Delivery.objects.filter(campaign=copy).exists()
    again = campaigns.campaign_duplicate(campaign=copy, created_by=None)
    assert again.name == "Kernel 7.0 (copy) (copy)"
    assert len({campaign.slug, copy.slug, again.slug}) == 3


def test_a_copy_keeps_content_that_no_longer_renders_so_the_editor_can_fix_it(newsletter):
    campaign = CampaignFactory(newsletter=newsletter, status=Status.SENT)
    Layout.objects.filter(pk=campaign.layout_id).update(mjml="<mjml><mj-body></mj-body></mjml>")
    copy = campaigns.campaign_duplicate(
        campaign=Campaign.objects.get(pk=campaign.pk), created_by=None
    )
    assert copy.body == campaign.body
    assert not campaigns.campaign_sendability(campaign=copy).ok
