"""Scheduling where a campaign is edited and on the campaign list (#18.10), and the
campaign page's unschedule, duplicate and delete."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign, Status
from campaigns.services import install_default_layouts
from delivery import lifecycle
from delivery.models import Delivery
from newsletter.models import Role
from subscribers.models import MailingList
from tests.factories import (
    CampaignFactory,
    MailingListFactory,
    MembershipFactory,
    SubscriptionFactory,
)

pytestmark = pytest.mark.django_db
PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def editor(client):
    membership = MembershipFactory(
        role=Role.EDITOR, newsletter__slug="proj", newsletter__timezone="Europe/Paris"
    )
    client.force_login(membership.user)
    client.newsletter = membership.newsletter
    client.news = MailingListFactory(newsletter=membership.newsletter, name="News", slug="news")
    SubscriptionFactory(mailing_list=client.news)
    return client


def url(name, newsletter, *args):
    return reverse(f"dashboard:{name}", args=[newsletter.slug, *args])


def later(days=3) -> datetime:
    """A time in Paris, to the minute, as the datetime-local field sends it."""
    return (timezone.now().astimezone(PARIS) + timedelta(days=days)).replace(
        second=0, microsecond=0
    )


def form_data(editor, **overrides):
    layout = install_default_layouts(newsletter=editor.newsletter)[0]
    data = {
        "name": "Release 2.0",
        "slug": "",
        "subject": "Demo 2.0 is out",
        "preheader": "",
        "layout": layout.pk,
        "body_format": "markdown",
        "body": "It is out.",
        "lists": [editor.news.pk],
        "send_at": "",
    }
    data.update(overrides)
    return data


def test_a_new_campaign_saved_with_a_time_is_scheduled_in_the_newsletters_zone(editor):
    when = later()
    response = editor.post(
        url("campaign_create", editor.newsletter),
        form_data(editor, send_at=when.strftime("%Y-%m-%dT%H:%M")),
        follow=True,
    )
    campaign = Campaign.objects.get()
    assert (campaign.status, campaign.send_at) == (Status.SCHEDULED, when)
    assert list(campaign.lists.all()) == [editor.news]
    page = response.content.decode()
    assert "it goes out" in page and "(Europe/Paris)" in page
    assert "data-schedule" in page


def test_the_editor_shows_the_time_and_keeps_it_scheduled_on_save(editor):
    when = later()
    editor.post(
        url("campaign_create", editor.newsletter),
        form_data(editor, send_at=when.strftime("%Y-%m-%dT%H:%M")),
    )
    campaign = Campaign.objects.get()
    page = editor.get(url("campaign_edit", editor.newsletter, campaign.pk)).content.decode()
    assert f'value="{when.strftime("%Y-%m-%dT%H:%M")}"' in page
    assert 'data-status="scheduled"' in page
    editor.post(
        url("campaign_edit", editor.newsletter, campaign.pk),
        form_data(editor, body="Edited.", send_at=when.strftime("%Y-%m-%dT%H:%M")),
    )
    campaign.refresh_from_db()
    assert (campaign.status, campaign.send_at, campaign.body) == (Status.SCHEDULED, when, "Edited.")


def test_clearing_the_time_unschedules_and_a_past_time_changes_nothing(editor):
    when = later()
    editor.post(
        url("campaign_create", editor.newsletter),
        form_data(editor, send_at=when.strftime("%Y-%m-%dT%H:%M")),
    )
    campaign = Campaign.objects.get()
    past = (timezone.now().astimezone(PARIS) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    response = editor.post(
        url("campaign_edit", editor.newsletter, campaign.pk),
        form_data(editor, body="Not saved.", send_at=past),
    )
    assert response.status_code == 422
    assert "Choose a time in the future." in response.content.decode()
    campaign.refresh_from_db()
    assert (campaign.status, campaign.send_at, campaign.body) == (
        Status.SCHEDULED,
        when,
        "It is out.",
    )

    editor.post(url("campaign_edit", editor.newsletter, campaign.pk), form_data(editor))
    campaign.refresh_from_db()
    assert (campaign.status, campaign.send_at) == (Status.DRAFT, None)


def test_scheduling_without_a_list_is_refused_with_the_reason(editor):
    response = editor.post(
        url("campaign_create", editor.newsletter),
        form_data(editor, lists=[], send_at=later().strftime("%Y-%m-%dT%H:%M")),
    )
    assert response.status_code == 422
    assert "Choose at least one list to send it to." in response.content.decode()
    assert not Campaign.objects.exists()


def test_archived_lists_are_not_offered_in_the_editor(editor):
    old = MailingListFactory(newsletter=editor.newsletter, name="Old news", slug="old")
    MailingList.objects.filter(pk=old.pk).update(archived_at=timezone.now())
    page = editor.get(url("campaign_create", editor.newsletter)).content.decode()
    assert "News" in page and "Old news" not in page


def test_a_started_campaign_is_not_edited(editor):
    campaign = CampaignFactory(newsletter=editor.newsletter, status=Status.SENT)
    response = editor.get(url("campaign_edit", editor.newsletter, campaign.pk))
    assert response.status_code == 302
    assert response["Location"] == url("campaign_preview", editor.newsletter, campaign.pk)


def test_the_campaign_list_shows_and_sets_send_at(editor):
    draft = CampaignFactory(newsletter=editor.newsletter, name="Draft one")
    draft.lists.set([editor.news])
    page = editor.get(url("campaign_list", editor.newsletter)).content.decode()
    assert "Send at <small>(Europe/Paris)</small>" in page
    assert f'id="send-at-{draft.pk}"' in page

    when = later(days=1)
    response = editor.post(
        url("campaign_schedule", editor.newsletter, draft.pk),
        {
            "send_at": when.strftime("%Y-%m-%dT%H:%M"),
            "next": url("campaign_list", editor.newsletter),
        },
        follow=True,
    )
    assert response.redirect_chain[-1][0] == url("campaign_list", editor.newsletter)
    draft.refresh_from_db()
    assert (draft.status, draft.send_at) == (Status.SCHEDULED, when)
    page = response.content.decode()
    assert "“Draft one” goes out" in page
    assert f'value="{when.strftime("%Y-%m-%dT%H:%M")}"' in page
    assert "Reschedule" in page and "Unschedule" in page

    editor.post(
        url("campaign_schedule", editor.newsletter, draft.pk),
        {"action": "unschedule", "next": url("campaign_list", editor.newsletter)},
    )
    draft.refresh_from_db()
    assert (draft.status, draft.send_at) == (Status.DRAFT, None)


def test_scheduling_from_the_list_says_what_is_wrong_and_changes_nothing(editor):
    draft = CampaignFactory(newsletter=editor.newsletter, name="No lists")
    response = editor.post(
        url("campaign_schedule", editor.newsletter, draft.pk),
        {"send_at": later().strftime("%Y-%m-%dT%H:%M")},
        follow=True,
    )
    assert "“No lists”: Choose at least one list to send it to." in response.content.decode()
    response = editor.post(
        url("campaign_schedule", editor.newsletter, draft.pk), {"send_at": ""}, follow=True
    )
    assert "“No lists”: Choose when to send it." in response.content.decode()
    draft.refresh_from_db()
    assert draft.status == Status.DRAFT


def test_an_outside_next_is_not_followed(editor):
    draft = CampaignFactory(newsletter=editor.newsletter)
    response = editor.post(
        url("campaign_schedule", editor.newsletter, draft.pk),
        {"action": "unschedule", "next": "https://evil.example.org/"},
    )
    assert response["Location"] == url("campaign_preview", editor.newsletter, draft.pk)


def test_a_failed_campaign_shows_why_on_its_page_and_in_the_list(editor):
    campaign = CampaignFactory(
        newsletter=editor.newsletter,
        status=Status.FAILED,
        send_at=timezone.now() - timedelta(minutes=5),
        failure_reason="Choose at least one list to send it to.",
    )
    page = editor.get(url("campaign_preview", editor.newsletter, campaign.pk)).content.decode()
    assert "data-failure" in page
    assert "It could not start at" in page and "Choose at least one list" in page
    assert "Unschedule" in page
    listing = editor.get(url("campaign_list", editor.newsletter)).content.decode()
    assert "Could not start" in listing and "Choose at least one list" in listing
    form = editor.get(url("campaign_edit", editor.newsletter, campaign.pk)).content.decode()
    assert 'data-status="failed"' in form and "It could not start at" in form


def test_duplicate_opens_the_copy_in_the_editor(editor):
    campaign = CampaignFactory(newsletter=editor.newsletter, name="June", status=Status.SENT)
    response = editor.post(url("campaign_duplicate", editor.newsletter, campaign.pk))
    copy = Campaign.objects.exclude(pk=campaign.pk).get()
    assert response["Location"] == url("campaign_edit", editor.newsletter, copy.pk)
    assert (copy.name, copy.status) == ("June (copy)", Status.DRAFT)


def test_delete_asks_first_and_only_deletes_what_never_started(editor):
    draft = CampaignFactory(newsletter=editor.newsletter, name="Oops")
    page = editor.get(url("campaign_delete", editor.newsletter, draft.pk)).content.decode()
    assert "Delete it" in page
    assert editor.post(url("campaign_delete", editor.newsletter, draft.pk)).status_code == 200
    assert Campaign.objects.filter(pk=draft.pk).exists()  # no confirmation, no deletion
    response = editor.post(
        url("campaign_delete", editor.newsletter, draft.pk), {"confirm": "yes"}, follow=True
    )
    assert "“Oops” deleted." in response.content.decode()
    assert not Campaign.objects.filter(pk=draft.pk).exists()

    sent = CampaignFactory(newsletter=editor.newsletter)
    sent.lists.set([editor.news])
    lifecycle.campaign_start(campaign=sent)
    page = editor.get(url("campaign_delete", editor.newsletter, sent.pk)).content.decode()
    assert "It cannot be deleted" in page and "Delete it" not in page
    editor.post(url("campaign_delete", editor.newsletter, sent.pk), {"confirm": "yes"})
    assert Delivery.objects.filter(campaign=sent).count() == 1
