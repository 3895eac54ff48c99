import pytest
from django.core.exceptions import ValidationError

from campaigns import rendering, services
from campaigns.models import Campaign, Layout, Status
from campaigns.selectors import public_archive
from tests.factories import CampaignFactory, LayoutFactory, NewsletterFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_default_layouts_are_installed_once():
    newsletter = NewsletterFactory()
    first = services.install_default_layouts(newsletter=newsletter)
    again = services.install_default_layouts(newsletter=newsletter)
    assert [layout.name for layout in first] == ["Announcement", "Release notes", "Digest"]
    assert [layout.pk for layout in first] == [layout.pk for layout in again]
    assert Layout.objects.filter(newsletter=newsletter).count() == 3


def test_create_a_draft_caches_its_render():
    layout = LayoutFactory()
    campaign = services.campaign_create(
        newsletter=layout.newsletter,
        created_by=UserFactory(),
        name="Release 2.0",
        subject="Release 2.0",
        layout=layout,
        body="Hello {{ subscriber.name }}",
    )
    campaign.refresh_from_db()
    assert campaign.status == Status.DRAFT
    assert campaign.slug == "release-20"
    assert campaign.rendered_digest == services.render_input(campaign=campaign).digest()
    assert "subscriber.name" in [name for name, _ in campaign.rendered_html["slots"]]


def test_a_campaign_with_an_unknown_tag_is_not_saved_and_the_error_names_the_line():
    layout = LayoutFactory()
    with pytest.raises(ValidationError) as caught:
        services.campaign_create(
            newsletter=layout.newsletter,
            created_by=None,
            name="Broken",
            subject="Broken",
            layout=layout,
            body="Hi\n{{ subscriber.nmae }}",
        )
    assert caught.value.message_dict["body"][0].startswith(
        "line 2: unknown merge tag {{ subscriber.nmae }}."
    )
    assert not Campaign.objects.exists()


def test_slugs_are_unique_per_newsletter():
    layout = LayoutFactory()
    kwargs = {
        "newsletter": layout.newsletter,
        "created_by": None,
        "subject": "News",
        "layout": layout,
        "body": "Text",
    }
    first = services.campaign_create(name="News", **kwargs)
    second = services.campaign_create(name="News", **kwargs)
    assert (first.slug, second.slug) == ("news", "news-2")
    with pytest.raises(ValidationError) as caught:
        services.campaign_create(name="Other", slug="news", **kwargs)
    assert "slug" in caught.value.message_dict


def test_render_is_reused_until_the_campaign_or_its_layout_changes(monkeypatch):
    campaign = CampaignFactory()
    calls = []
    real_render = rendering.render

    def counting(source):
        calls.append(source)
        return real_render(source)

    monkeypatch.setattr(rendering, "render", counting)
    services.campaign_render(campaign=campaign)
    services.campaign_render(campaign=Campaign.objects.get(pk=campaign.pk))
    assert len(calls) == 1

    campaign.layout.mjml = campaign.layout.mjml.replace("Unsubscribe", "Leave this list")
    campaign.layout.save()
    reloaded = Campaign.objects.get(pk=campaign.pk)
    services.campaign_render(campaign=reloaded)
    assert len(calls) == 2
    assert "Leave this list" in reloaded.cached_render().html.source()


def test_a_sent_campaign_is_not_editable():
    campaign = CampaignFactory(status=Status.SENT)
    with pytest.raises(ValidationError, match="Only a campaign that has not started can be"):
        services.campaign_update(campaign=campaign, subject="Changed")


def test_content_problems_name_a_layout_that_lost_its_unsubscribe_link():
    campaign = CampaignFactory()
    Layout.objects.filter(pk=campaign.layout_id).update(
        mjml=campaign.layout.mjml.replace("{{ unsubscribe_url }}", "#")
    )
    problems = services.content_problems(campaign=Campaign.objects.get(pk=campaign.pk))
    assert any(
        problem.startswith("Layout: the layout's footer must carry a visible unsubscribe link")
        for problem in problems
    )
    assert services.content_problems(campaign=CampaignFactory()) == []


def test_update_validates_like_create():
    campaign = CampaignFactory()
    with pytest.raises(ValidationError) as caught:
        services.campaign_update(campaign=campaign, body="<mj-section>", body_format="mjml")
    assert caught.value.message_dict["body"] == ["line 1: <mj-section> is never closed."]
    campaign.refresh_from_db()
    assert campaign.body_format == "markdown"


def test_a_layout_without_the_required_footer_is_refused_on_its_field():
    newsletter = NewsletterFactory()
    with pytest.raises(ValidationError) as caught:
        services.layout_create(
            newsletter=newsletter,
            name="Bare",
            mjml="<mjml><mj-body>{{ content }}</mj-body></mjml>",
        )
    messages = caught.value.message_dict["mjml"]
    assert len(messages) == 3
    assert "unsubscribe" in messages[0]


def test_the_archive_shows_neutral_values_and_no_script_or_pixel():
    layout = LayoutFactory()
    layout.mjml = layout.mjml.replace(
        "{{ content }}",
        '{{ content }}<mj-section><mj-column><mj-image src="https://t.example.com/p.gif" '
        'width="1px" alt="" /><mj-text><script>alert(1)</script></mj-text>'
        "</mj-column></mj-section>",
    )
    layout.save()
    campaign = CampaignFactory(
        layout=layout,
        newsletter=layout.newsletter,
        status=Status.SENT,
        body='Hello {{ subscriber.name|default:"reader" }} <{{ subscriber.email }}>',
    )
    html = services.archive_html(campaign=campaign)
    assert "Hello reader" in html
    assert "@example.org" not in html.replace(campaign.newsletter.from_email, "")
    assert "<script" not in html and "alert(1)" not in html
    assert "t.example.com" not in html
    assert f"/n/{campaign.newsletter.slug}/" in html  # unsubscribe leads to the public page


def test_public_archive_lists_only_sent_public_campaigns_newest_first(django_assert_num_queries):
    newsletter = NewsletterFactory()
    old = CampaignFactory(
        newsletter=newsletter, status=Status.SENT, public=True, sent_at="2026-01-01T10:00Z"
    )
    new = CampaignFactory(
        newsletter=newsletter, status=Status.SENT, public=True, sent_at="2026-02-01T10:00Z"
    )
    CampaignFactory(
        newsletter=newsletter, status=Status.SENT, public=False, sent_at="2026-02-01T10:00Z"
    )
    CampaignFactory(newsletter=newsletter, status=Status.DRAFT, public=True)
    CampaignFactory(status=Status.SENT, public=True, sent_at="2026-02-01T10:00Z")
    with django_assert_num_queries(1):
        assert list(public_archive(newsletter)) == [new, old]


def test_a_sent_campaign_keeps_the_render_it_was_sent_with():
    campaign = CampaignFactory()
    services.campaign_render(campaign=campaign)
    Campaign.objects.filter(pk=campaign.pk).update(status=Status.SENT)
    campaign.layout.mjml = campaign.layout.mjml.replace("Unsubscribe", "Leave this list")
    campaign.layout.save()
    sent = Campaign.objects.get(pk=campaign.pk)
    html = services.campaign_render(campaign=sent).html.source()
    assert "Unsubscribe" in html and "Leave this list" not in html


@pytest.mark.django_db
def test_preview_as_one_of_the_newsletters_subscribers_uses_their_name_and_attributes():
    from campaigns.services import sample_recipient
    from tests.factories import MailingListFactory, SubscriberFactory

    releases = MailingListFactory()
    grace = SubscriberFactory(
        newsletter=releases.newsletter,
        email="grace@example.org",
        name="Grace",
        attributes={"city": "Lyon"},
    )
    grace.subscriptions.create(mailing_list=releases, status="confirmed")
    SubscriberFactory(email="stranger@example.org", name="Stranger")
    # Another newsletter's contact at Grace's address: its name is not this newsletter's.
    SubscriberFactory(email="grace@example.org", name="Dr Grace H.", attributes={"rank": "x"})

    mine = sample_recipient(newsletter=releases.newsletter, email="Grace@example.org")
    assert (mine.name, mine.attributes) == ("Grace", {"city": "Lyon"})
    other = sample_recipient(newsletter=releases.newsletter, email="stranger@example.org")
    assert (other.name, other.attributes) == ("Ada Lovelace", {})
