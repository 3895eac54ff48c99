"""A header value with a line break never leaves Crier: refused on input (forms and API,
naming the field), and the message builders raise rather than emit it."""

import json
from email import message_from_bytes, policy

import pytest
from django.urls import reverse

from campaigns.models import Campaign
from campaigns.rendering.mergetags import Compiled
from campaigns.services import campaign_render, install_default_layouts
from delivery.messages import Addressee, CampaignMessages
from newsletter.headers import LINE_BREAKS, HeaderInjection
from newsletter.models import Newsletter, Role
from tests.api.conftest import make_api
from tests.factories import CampaignFactory, MembershipFactory, NewsletterFactory

pytestmark = pytest.mark.django_db

ADA = Addressee(41, 7, "ada@example.org", "Ada", {"city": "Paris"}, "Releases")
BREAKS = [*LINE_BREAKS, "\r\n"]
INJECTED = "Release{}Bcc: everyone@example.org"


def messages_with(campaign, subject: str | None = None) -> CampaignMessages:
    rendered = campaign_render(campaign=campaign)
    if subject is not None:
        # What a subject stored before input was checked would compile to.
        rendered.subject = Compiled(mode="header", pieces=[subject], positions=[], slots=[])
    return CampaignMessages(campaign, rendered)


@pytest.mark.parametrize("character", BREAKS)
def test_no_build_emits_a_subject_with_a_line_break(character):
    messages = messages_with(CampaignFactory(), INJECTED.format(character))
    with pytest.raises(HeaderInjection):
        messages.build_raw(ADA)
    with pytest.raises(HeaderInjection):
        messages.build(ADA)
    template = messages.merge_template("%recipient.{}%")
    with pytest.raises(HeaderInjection):
        template.build([ADA])


@pytest.mark.parametrize("field", ["from_name", "name", "reply_to"])
@pytest.mark.parametrize("character", ["\r\n", "\n", "\x0b", "\u2028"])
def test_no_build_emits_a_sender_or_list_id_with_a_line_break(field, character):
    campaign = CampaignFactory()
    value = {"reply_to": f'"team{character}Bcc: x"@example.org'}.get(
        field, f"Team{character}Bcc: everyone@example.org"
    )
    # Stored before input was checked (or written around the forms).
    Newsletter.objects.filter(pk=campaign.newsletter_id).update(**{field: value})
    campaign = Campaign.objects.select_related("newsletter").get(pk=campaign.pk)
    with pytest.raises(HeaderInjection):
        messages = messages_with(campaign)
        messages.build_raw(ADA)
    with pytest.raises(HeaderInjection):
        messages_with(campaign).build(ADA)
    with pytest.raises(HeaderInjection):
        messages_with(campaign).merge_template("%recipient.{}%").build([ADA])


@pytest.mark.parametrize("character", ["\x0c", "\x1c", "\x85"])
def test_no_build_emits_an_address_with_a_line_break(character):
    messages = messages_with(CampaignFactory())
    odd = Addressee(42, 8, f'"a{character}b"@example.org', "A", {}, "Releases")
    with pytest.raises(HeaderInjection):
        messages.build_raw(odd)
    with pytest.raises(HeaderInjection):
        messages.build(odd)
    with pytest.raises(HeaderInjection):
        messages.merge_template("%recipient.{}%").build([odd])


@pytest.mark.parametrize("character", BREAKS)
def test_merge_tags_in_the_subject_are_folded_not_refused(character):
    campaign = CampaignFactory(
        subject="News for {{ subscriber.name }} in {{ subscriber.attributes.city }}"
    )
    messages = messages_with(campaign)
    reader = Addressee(43, 9, "b@example.org", f"Bob{character}Bcc: x", {"city": "P"}, "R")
    parsed = message_from_bytes(messages.build_raw(reader), policy=policy.default)
    assert parsed["Subject"] == "News for Bob Bcc: x in P"
    assert parsed["Bcc"] is None
    assert messages.build(reader).subject == "News for Bob Bcc: x in P"
    fields = messages.merge_template("%recipient.{}%").build([reader]).merge_data["b@example.org"]
    assert fields["s0"] == "Bob Bcc: x"


def test_a_clean_message_passes_the_check_untouched():
    from delivery.headercheck import check_headers

    message = messages_with(CampaignFactory()).build(ADA)
    assert check_headers(message) is message


@pytest.mark.parametrize("character", BREAKS)
def test_a_subject_with_a_line_break_does_not_render(character):
    campaign = CampaignFactory()
    Campaign.objects.filter(pk=campaign.pk).update(subject=INJECTED.format(character))
    campaign.refresh_from_db()
    result = campaign_render(campaign=campaign)
    assert "the subject has a line break" in " ".join(str(p) for p in result.errors)


# Input: forms and the API refuse it, naming the field, and change nothing.


@pytest.fixture
def editor(client):
    membership = MembershipFactory(role=Role.EDITOR)
    client.force_login(membership.user)
    client.newsletter = membership.newsletter
    return client


@pytest.mark.parametrize("character", BREAKS)
def test_the_campaign_form_refuses_a_subject_with_a_line_break(editor, character):
    layout = install_default_layouts(newsletter=editor.newsletter)[0]
    response = editor.post(
        reverse("dashboard:campaign_create", args=[editor.newsletter.slug]),
        {
            "name": "Release",
            "slug": "",
            "subject": INJECTED.format(character),
            "preheader": "",
            "layout": layout.pk,
            "body_format": "markdown",
            "body": "Hello.",
        },
    )
    assert response.status_code == 422
    assert "subject" in response.context["form"].errors
    assert not Campaign.objects.exists()


@pytest.mark.parametrize("character", BREAKS)
def test_the_api_refuses_a_subject_with_a_line_break(redis_client, character):
    newsletter = NewsletterFactory()
    api = make_api(newsletter)
    subject = INJECTED.format(character)
    response = api.post(
        "/api/v1/campaigns/", {"name": "Release", "subject": subject, "body": "Hello."}
    )
    assert response.status_code == 422, response.content
    assert list(response.json()["errors"]) == ["subject"]
    assert not Campaign.objects.exists()
    campaign = CampaignFactory(newsletter=newsletter, subject="Fine")
    response = api.patch(f"/api/v1/campaigns/{campaign.pk}/", {"subject": subject})
    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["subject"]
    campaign.refresh_from_db()
    assert campaign.subject == "Fine"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "News\r\nBcc: x@example.org"),
        ("name", "News\u2028Bcc: x@example.org"),
        ("from_name", "Team\nBcc: x@example.org"),
        ("from_name", "Team\x85Bcc: x@example.org"),
        ("from_email", '"news\x0bBcc:x"@example.org'),
        ("reply_to", '"team\x0cBcc:x"@example.org'),
    ],
)
def test_the_newsletter_settings_refuse_header_fields_with_a_line_break(client, field, value):
    from tests.dashboard.test_settings import settings_data

    owner = MembershipFactory(role=Role.OWNER)
    client.force_login(owner.user)
    newsletter = owner.newsletter
    before = getattr(newsletter, field)
    response = client.post(
        reverse("dashboard:settings", args=[newsletter.slug]),
        settings_data(newsletter, **{field: value}),
    )
    assert response.status_code == 422
    assert field in response.context["form"].errors
    newsletter.refresh_from_db()
    assert getattr(newsletter, field) == before


@pytest.mark.parametrize("address", ['"a\x0bb"@example.org', '"a\x0cb"@example.org'])
def test_test_send_addresses_with_a_line_break_are_refused(editor, redis_client, address):
    campaign = CampaignFactory(newsletter=editor.newsletter)
    page = editor.post(
        reverse("dashboard:campaign_test_send", args=[editor.newsletter.slug, campaign.pk]),
        {"to": address},
        follow=True,
    ).content.decode()
    assert "is not a valid email address." in page
    assert redis_client.llen("send") == 0
    api = make_api(editor.newsletter, username="robot2")
    response = api.post(f"/api/v1/campaigns/{campaign.pk}/test/", {"to": [address]})
    assert response.status_code == 422
    assert "to" in json.dumps(response.json()["errors"])
