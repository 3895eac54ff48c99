"""The Segments and Fields pages through the Django client: the builder's live count and
sample, saving, errors by part, roles, and another newsletter's segments out of reach."""

import re

import pytest
from django.urls import reverse

from audiences.models import Segment
from newsletter.models import Role
from subscribers.models import FieldDefinition
from tests.factories import (
    FieldDefinitionFactory,
    MailingListFactory,
    MembershipFactory,
    NewsletterFactory,
    SegmentFactory,
    SubscriberFactory,
    SubscriptionFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def editor(client):
    membership = MembershipFactory(role=Role.EDITOR)
    client.force_login(membership.user)
    newsletter = membership.newsletter
    FieldDefinitionFactory(newsletter=newsletter, key="sdk", type="choice", choices=["py", "go"])
    releases = MailingListFactory(newsletter=newsletter, slug="releases", name="Releases")
    for n, sdk in enumerate(["py", "py", "go"]):
        SubscriptionFactory(
            mailing_list=releases,
            subscriber__email=f"r{n}@example.org",
            subscriber__attributes={"sdk": sdk},
        )
    SubscriberFactory(newsletter=newsletter, email="nolist@example.org", attributes={"sdk": "py"})
    return newsletter


def builder_post(client, newsletter, data, pk=None, htmx=True):
    url = (
        reverse("dashboard:segment_edit", args=[newsletter.slug, pk])
        if pk
        else reverse("dashboard:segment_create", args=[newsletter.slug])
    )
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    return client.post(url, data, **headers)


def test_the_builder_counts_and_samples_as_conditions_change(client, editor):
    added = builder_post(
        client, editor, {"name": "Py", "match": "all", "rows": "0", "action": "add"}
    )
    page = added.content.decode()
    assert 'name="field_0"' in page
    assert "rules.all[0].value" in page  # the new row ("is on (any status)" …) needs a list

    counted = builder_post(
        client,
        editor,
        {
            "name": "Py",
            "match": "all",
            "rows": "1",
            "field_0": "sdk",
            "op_0": "eq",
            "value_0": "py",
        },
    ).content.decode()
    assert 'data-matching="3"' in counted
    assert 'data-mailable="2"' in counted  # nolist@ matches but is on no list
    assert "r0@example.org" in counted

    wrong = builder_post(
        client,
        editor,
        {
            "name": "Py",
            "match": "all",
            "rows": "1",
            "field_0": "sdk",
            "op_0": "eq",
            "value_0": "rb",
        },
    ).content.decode()
    assert "rules.all[0].value" in wrong and "not one of py, go" in wrong


def test_saving_a_segment_and_editing_it_as_json(client, editor):
    saved = builder_post(
        client,
        editor,
        {
            "name": "Go users",
            "match": "any",
            "rows": "2",
            "field_0": "sdk",
            "op_0": "eq",
            "value_0": "go",
            "field_1": "list",
            "op_1": "pending",
            "value_1": "releases",
            "negate_1": "1",
            "action": "save",
        },
        htmx=False,
    )
    segment = Segment.objects.get(newsletter=editor)
    assert saved.status_code == 302
    assert segment.rules == {
        "any": [
            {"field": "sdk", "op": "eq", "value": "go"},
            {"not": {"field": "list", "op": "pending", "value": "releases"}},
        ]
    }
    as_json = builder_post(
        client,
        editor,
        {"name": "Go users", "match": "any", "rows": "0", "action": "json"},
        segment.pk,
    ).content.decode()
    assert 'name="rules_json"' in as_json
    deeper = '{"all": [{"not": {"any": [{"field": "sdk", "op": "is_set"}]}}]}'
    builder_post(
        client,
        editor,
        {"name": "Go users", "mode": "json", "rules_json": deeper, "action": "save"},
        segment.pk,
        htmx=False,
    )
    segment.refresh_from_db()
    assert segment.rules == {"all": [{"not": {"any": [{"field": "sdk", "op": "is_set"}]}}]}
    page = client.get(reverse("dashboard:segment_edit", args=[editor.slug, segment.pk]))
    assert 'name="rules_json"' in page.content.decode()  # too deep for rows: JSON
    broken = builder_post(
        client,
        editor,
        {"name": "Go users", "mode": "json", "rules_json": '{"all": [', "action": "save"},
        segment.pk,
        htmx=False,
    )
    assert "Not valid JSON" in broken.content.decode()
    segment.refresh_from_db()
    assert segment.rules == {"all": [{"not": {"any": [{"field": "sdk", "op": "is_set"}]}}]}


def test_fields_page_defines_and_refuses_by_field(client, editor):
    url = reverse("dashboard:field_list", args=[editor.slug])
    made = client.post(
        url, {"label": "First commit", "key": "first_commit", "type": "date", "choices_text": ""}
    )
    assert made.status_code == 302
    assert FieldDefinition.objects.get(newsletter=editor, key="first_commit").type == "date"
    refused = client.post(url, {"label": "Lang", "key": "language", "type": "text"})
    assert refused.status_code == 422
    assert "built-in rule name" in refused.content.decode()
    assert "First commit" in client.get(url).content.decode()


def test_viewers_read_and_strangers_see_nothing(client, editor):
    segment = SegmentFactory(newsletter=editor, name="Everyone")
    viewer = MembershipFactory(newsletter=editor, role=Role.VIEWER, user__username="viewer")
    client.force_login(viewer.user)
    page = client.get(reverse("dashboard:segment_edit", args=[editor.slug, segment.pk]))
    assert page.status_code == 200
    assert "Save segment" not in page.content.decode()
    assert (
        builder_post(client, editor, {"name": "X", "action": "save"}, htmx=False).status_code != 302
    )
    assert not Segment.objects.filter(name="X").exists()

    other = NewsletterFactory()
    theirs = SegmentFactory(newsletter=other)
    stranger = MembershipFactory(newsletter=other, role=Role.OWNER, user__username="stranger")
    client.force_login(stranger.user)
    assert (
        client.get(reverse("dashboard:segment_edit", args=[editor.slug, segment.pk])).status_code
        == 404
    )
    assert (
        client.get(reverse("dashboard:segment_edit", args=[other.slug, segment.pk])).status_code
        == 404
    )
    listing = client.get(reverse("dashboard:segment_list", args=[other.slug])).content.decode()
    assert theirs.name in listing and "Everyone" not in listing


def test_the_send_page_offers_segments_and_the_confirmation_names_it(client, editor):
    from tests.factories import CampaignFactory

    segment = SegmentFactory(
        newsletter=editor,
        name="Py users",
        rules={"all": [{"field": "sdk", "op": "eq", "value": "py"}]},
    )
    campaign = CampaignFactory(newsletter=editor)
    url = reverse("dashboard:campaign_send", args=[editor.slug, campaign.pk])
    fragment = client.get(
        reverse("dashboard:campaign_recipients", args=[editor.slug, campaign.pk]),
        {"segment": segment.pk},
    ).content.decode()
    assert re.search(r'data-recipients="2"', fragment)
    review = client.post(url, {"segment": segment.pk, "action": "send_now"}).content.decode()
    assert 'data-fact="segment"' in review and "Py users" in review
    assert 'data-fact="recipients">2 people' in review
