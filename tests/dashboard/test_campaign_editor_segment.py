"""The campaign editor chooses a segment too, as the send page and the API do."""

import pytest

from audiences import services as segments
from campaigns.models import Campaign
from tests.dashboard.test_campaign_editor import editor, form_data, url
from tests.factories import MailingListFactory, NewsletterFactory

__all__ = ["editor"]  # the editor tests' fixture

pytestmark = pytest.mark.django_db

ON_NEWS = {"field": "list", "op": "member", "value": "news"}


@pytest.fixture
def segment(editor):
    return segments.segment_create(newsletter=editor.newsletter, name="Newsreaders", rules=ON_NEWS)


def test_the_editor_offers_the_newsletters_segments_only(editor, segment):
    other = NewsletterFactory()
    MailingListFactory(newsletter=other, slug="news")
    segments.segment_create(newsletter=other, name="Theirs", rules=ON_NEWS)
    page = editor.get(url("campaign_create", editor.newsletter)).text
    assert "Only the people of a segment" in page
    assert "Newsreaders" in page and "Theirs" not in page


def test_no_segment_field_without_saved_segments(editor):
    assert (
        "Only the people of a segment"
        not in editor.get(url("campaign_create", editor.newsletter)).text
    )


def test_a_campaign_is_saved_with_its_segment_and_it_can_be_cleared(editor, segment):
    response = editor.post(
        url("campaign_create", editor.newsletter), form_data(editor, segment=segment.pk)
    )
    assert response.status_code == 302
    campaign = Campaign.objects.get()
    assert campaign.segment == segment
    page = editor.get(url("campaign_edit", editor.newsletter, campaign.pk)).text
    assert f'<option value="{segment.pk}" selected>Newsreaders</option>' in page

    editor.post(url("campaign_edit", editor.newsletter, campaign.pk), form_data(editor))
    campaign.refresh_from_db()
    assert campaign.segment is None


def test_another_newsletters_segment_is_refused_and_nothing_saved(editor):
    other = NewsletterFactory()
    MailingListFactory(newsletter=other, slug="news")
    theirs = segments.segment_create(newsletter=other, name="Theirs", rules=ON_NEWS)
    response = editor.post(
        url("campaign_create", editor.newsletter), form_data(editor, segment=theirs.pk)
    )
    assert response.status_code == 422
    assert "Select a valid choice" in response.text
    assert not Campaign.objects.exists()
