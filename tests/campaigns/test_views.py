import re
from datetime import UTC, datetime

import pytest
from django.urls import reverse

from campaigns.models import Campaign, Status
from campaigns.services import install_default_layouts
from newsletter.models import Role
from tests.factories import CampaignFactory, MailingListFactory, MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def editor(client):
    membership = MembershipFactory(role=Role.EDITOR)
    client.force_login(membership.user)
    client.newsletter = membership.newsletter
    return client


@pytest.fixture
def viewer(client):
    membership = MembershipFactory(role=Role.VIEWER)
    client.force_login(membership.user)
    client.newsletter = membership.newsletter
    return client


def url(name, newsletter, *args):
    return reverse(f"dashboard:{name}", args=[newsletter.slug, *args])


def form_data(layout, **overrides):
    data = {
        "name": "Release 2.0",
        "slug": "",
        "subject": "Demo 2.0 is out",
        "preheader": "Plugins and speed",
        "layout": layout.pk,
        "body_format": "markdown",
        "body": 'Hello {{ subscriber.name|default:"friend" }},\n\nIt is out.',
    }
    data.update(overrides)
    return data


def test_an_editor_creates_a_draft_and_lands_on_its_preview(editor):
    layouts = install_default_layouts(newsletter=editor.newsletter)
    response = editor.post(
        url("campaign_create", editor.newsletter), form_data(layouts[0]), follow=True
    )
    campaign = Campaign.objects.get()
    assert campaign.created_by is not None
    page = response.content.decode()
    assert "Draft saved." in page
    assert "Yes: it renders without errors." in page
    assert '<iframe class="mail-preview mail-preview-desktop" sandbox' in page


def test_the_create_form_installs_default_layouts_when_there_are_none(editor):
    page = editor.get(url("campaign_create", editor.newsletter)).content.decode()
    assert "Release notes" in page and "Digest" in page


def test_errors_appear_next_to_the_field_with_their_line(editor):
    layouts = install_default_layouts(newsletter=editor.newsletter)
    response = editor.post(
        url("campaign_create", editor.newsletter),
        form_data(layouts[0], body="Hi\n\n{{ subscriber.nickname }}"),
    )
    assert response.status_code == 422
    page = response.content.decode()
    assert "line 3: unknown merge tag {{ subscriber.nickname }}." in page
    # Django puts the error in the body field's group, tied to the textarea.
    assert 'id="id_body_error"' in page
    assert not Campaign.objects.exists()


def test_a_viewer_can_preview_but_not_create_or_edit(viewer):
    campaign = CampaignFactory(newsletter=viewer.newsletter)
    assert viewer.get(url("campaign_list", viewer.newsletter)).status_code == 200
    assert viewer.get(url("campaign_preview", viewer.newsletter, campaign.pk)).status_code == 200
    assert viewer.get(url("campaign_create", viewer.newsletter)).status_code == 403
    assert viewer.get(url("campaign_edit", viewer.newsletter, campaign.pk)).status_code == 403
    response = viewer.post(
        url("campaign_test_send", viewer.newsletter, campaign.pk), {"to": "a@example.org"}
    )
    assert response.status_code == 403


def test_campaigns_of_another_newsletter_are_not_found(editor):
    other = CampaignFactory()
    assert editor.get(url("campaign_preview", editor.newsletter, other.pk)).status_code == 404


def test_edit_saves_changes(editor):
    campaign = CampaignFactory(newsletter=editor.newsletter)
    response = editor.post(
        url("campaign_edit", editor.newsletter, campaign.pk),
        form_data(campaign.layout, subject="New subject", slug=campaign.slug),
    )
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.subject == "New subject"


def test_preview_html_is_sandboxed_and_shows_the_sample_reader(editor):
    campaign = CampaignFactory(newsletter=editor.newsletter)
    response = editor.get(
        url("campaign_preview_html", editor.newsletter, campaign.pk), {"name": "Grace <b>"}
    )
    policy = response["Content-Security-Policy"]
    assert "sandbox" in policy and "default-src 'none'" in policy
    assert "script-src" not in policy
    html = response.content.decode()
    assert "Hello Grace &lt;b&gt;," in html


def test_preview_offers_desktop_mobile_and_text(editor):
    campaign = CampaignFactory(newsletter=editor.newsletter)
    preview = url("campaign_preview", editor.newsletter, campaign.pk)
    mobile = editor.get(preview, {"view": "mobile"}).content.decode()
    assert "mail-preview-mobile" in mobile
    text = editor.get(preview, {"view": "text"}).content.decode()
    assert "Hello Ada Lovelace," in text
    assert "Project <strong>2.0</strong>" not in text  # the text part, not HTML


def test_preview_lists_what_blocks_sending(editor):
    campaign = CampaignFactory(newsletter=editor.newsletter, body="[x](relative/page)")
    page = editor.get(url("campaign_preview", editor.newsletter, campaign.pk)).content.decode()
    assert "Not yet:" in page
    assert "Body, line 1: the link address &quot;relative/page&quot; is not absolute" in page
    assert "sandbox" not in page  # no preview of a message that does not render


def test_preview_lists_warnings_with_the_text_they_are_in(editor):
    campaign = CampaignFactory(
        newsletter=editor.newsletter, body="Hi\n\n![](https://x.example.org/a.png)"
    )
    page = editor.get(url("campaign_preview", editor.newsletter, campaign.pk)).content.decode()
    assert "Yes: it renders without errors." in page
    assert "Body, line 3: an image has no description" in page


def test_test_send_is_queued_after_commit(editor, django_capture_on_commit_callbacks):
    campaign = CampaignFactory(newsletter=editor.newsletter)
    with django_capture_on_commit_callbacks() as callbacks:
        response = editor.post(
            url("campaign_test_send", editor.newsletter, campaign.pk),
            {"to": "a@example.org, b@example.org"},
            follow=True,
        )
    assert "Test queued for a@example.org, b@example.org" in response.content.decode()
    assert len(callbacks) == 1


def test_test_send_refuses_bad_or_too_many_addresses(editor):
    campaign = CampaignFactory(newsletter=editor.newsletter)
    target = url("campaign_test_send", editor.newsletter, campaign.pk)
    page = editor.post(target, {"to": "a@example.org nope"}, follow=True).content.decode()
    assert "nope is not a valid email address." in page
    many = ", ".join(f"p{n}@example.org" for n in range(6))
    page = editor.post(target, {"to": many}, follow=True).content.decode()
    assert "At most 5 addresses per test send." in page


def test_layout_errors_appear_on_the_mjml_field(editor):
    response = editor.post(
        url("layout_create", editor.newsletter),
        {
            "name": "Mine",
            "description": "",
            "mjml": "<mjml><mj-body>{{ content }}</mj-body></mjml>",
        },
    )
    assert response.status_code == 422
    page = response.content.decode()
    assert 'id="id_mjml_error"' in page
    assert "visible unsubscribe link" in page


def test_layouts_list_installs_defaults_and_previews_sandboxed(editor):
    editor.post(url("layout_install_defaults", editor.newsletter))
    page = editor.get(url("layout_list", editor.newsletter)).content.decode()
    assert "Announcement" in page and "Release notes" in page and "Digest" in page
    layout = editor.newsletter.layouts.get(name="Digest")
    response = editor.get(url("layout_preview_html", editor.newsletter, layout.pk))
    assert "sandbox" in response["Content-Security-Policy"]
    assert "Sample content" in response.content.decode()


def test_the_live_preview_renders_unsaved_content_in_a_sandbox(editor):
    layout = install_default_layouts(newsletter=editor.newsletter)[0]
    fragment = editor.post(
        url("campaign_live_preview", editor.newsletter),
        form_data(layout, body="Typed just now, {{ subscriber.name }}."),
    ).content.decode()
    source = fragment.split('src="')[1].split('"')[0]
    frame = editor.get(source)
    assert "Typed just now, Ada Lovelace." in frame.content.decode()
    assert "sandbox" in frame["Content-Security-Policy"]
    assert Campaign.objects.count() == 0, "a preview stores nothing"


def test_the_live_preview_shows_errors_with_their_line_and_no_frame(editor):
    layout = install_default_layouts(newsletter=editor.newsletter)[0]
    fragment = editor.post(
        url("campaign_live_preview", editor.newsletter),
        form_data(layout, body="Fine\n\n{{ subscriber.shoe_size }}"),
    ).content.decode()
    assert "line 3" in fragment and "subscriber.shoe_size" in fragment
    assert "<iframe" not in fragment


def test_a_live_preview_is_only_readable_within_its_newsletter(editor):
    layout = install_default_layouts(newsletter=editor.newsletter)[0]
    fragment = editor.post(
        url("campaign_live_preview", editor.newsletter), form_data(layout)
    ).content.decode()
    key = fragment.split("live-preview/")[1].split("/")[0]
    user = editor.newsletter.members.get()
    other = MembershipFactory(role=Role.EDITOR, user=user)
    assert editor.get(url("campaign_live_preview_html", other.newsletter, key)).status_code == 404


def test_a_viewer_cannot_use_the_live_preview(viewer):
    layout = install_default_layouts(newsletter=viewer.newsletter)[0]
    response = viewer.post(url("campaign_live_preview", viewer.newsletter), form_data(layout))
    assert response.status_code == 403


def test_a_sent_campaign_shows_as_finished_with_its_facts_and_its_report(editor):
    newsletter = editor.newsletter
    newsletter.timezone = "Europe/Paris"
    newsletter.save()
    campaign = CampaignFactory(
        newsletter=newsletter,
        status=Status.SENT,
        sent_at=datetime(2026, 11, 3, 9, 30, tzinfo=UTC),
        recipient_count=19,
    )
    campaign.lists.set([MailingListFactory(newsletter=newsletter, name="Releases")])
    page = editor.get(url("campaign_preview", newsletter, campaign.pk)).content.decode()
    assert "Ready to send?" not in page and "Not yet" not in page
    assert "not a draft" not in page
    assert "Sent on Nov. 3, 2026, 10:30 a.m. to 19 people" in page  # Paris time
    assert re.search(r'data-fact="lists">\s*Releases\s*<', page)
    assert re.search(r'data-fact="recipients">\s*19\s*<', page)
    assert url("campaign_report", newsletter, campaign.pk) in page
    assert url("campaign_edit", newsletter, campaign.pk) not in page


def test_a_draft_still_says_whether_it_can_be_sent(editor):
    campaign = CampaignFactory(newsletter=editor.newsletter)
    page = editor.get(url("campaign_preview", editor.newsletter, campaign.pk)).content.decode()
    assert "Ready to send?" in page and "Yes: it renders without errors." in page
    assert url("campaign_send", editor.newsletter, campaign.pk) in page


def test_a_new_campaign_asks_for_no_preview_until_something_is_typed(editor):
    page = editor.get(url("campaign_create", editor.newsletter)).content.decode()
    trigger = re.search(r'hx-trigger="([^"]+)"', page.split('id="live-preview"', 1)[1]).group(1)
    assert not trigger.startswith("load")
    assert "input changed" in trigger
    campaign = CampaignFactory(newsletter=editor.newsletter)
    page = editor.get(url("campaign_edit", editor.newsletter, campaign.pk)).content.decode()
    trigger = re.search(r'hx-trigger="([^"]+)"', page.split('id="live-preview"', 1)[1]).group(1)
    assert trigger.startswith("load")  # a saved draft has content to show at once


def test_the_slug_follows_the_name_and_sits_level_with_it(editor):
    install_default_layouts(newsletter=editor.newsletter)
    page = editor.get(url("campaign_create", editor.newsletter)).content.decode()
    assert 'data-slug-from="name"' in page
    # Help comes under the control, so the name and slug inputs start at the same height.
    slug_group = page.split('for="id_slug"', 1)[1].split("</div>", 1)[0]
    assert slug_group.index("<input") < slug_group.index("id_slug_helptext")


def test_a_campaign_marked_sent_without_sending_claims_no_recipients(editor):
    """The demo's sent issue was never sent by the engine: it has no recipient count."""
    campaign = CampaignFactory(
        newsletter=editor.newsletter,
        status=Status.SENT,
        sent_at=datetime(2026, 11, 3, 9, 30, tzinfo=UTC),
    )
    page = editor.get(url("campaign_preview", editor.newsletter, campaign.pk)).content.decode()
    assert "Sent on Nov. 3, 2026, 9:30 a.m." in page
    assert "to 0 people" not in page and 'data-fact="recipients"' not in page
