"""The people page filtered by a saved segment: the same contacts the segment picks,
the same for "everyone who matches" in bulk, and nothing of another newsletter's."""

import pytest
from django.urls import reverse

from audiences import services as segments
from subscribers import fields
from subscribers.models import Subscriber
from tests.subscribers.test_bulk import desk, post_bulk

__all__ = ["desk"]  # the bulk tests' fixture

pytestmark = pytest.mark.django_db

ON_CONTRIBUTORS = {"field": "list", "op": "member", "value": "contributors"}


def people_page(client, newsletter, **query):
    return client.get(reverse("dashboard:subscriber_list", args=[newsletter.slug]), query)


def test_a_saved_segment_narrows_the_people_page(client, desk):
    newsletter, _releases, _contributors, people, _outsider, editor = desk
    segment = segments.segment_create(
        newsletter=newsletter, name="Contributors", rules=ON_CONTRIBUTORS
    )
    client.force_login(editor)
    everyone = people_page(client, newsletter).text
    assert f'<option value="{segment.pk}">Contributors</option>' in everyone
    page = people_page(client, newsletter, segment=segment.pk).text
    assert 'data-matching="3"' in page
    assert people[0].email in page and people[5].email not in page
    narrowed = people_page(client, newsletter, segment=segment.pk, q="person01").text
    assert 'data-matching="1"' in narrowed


def test_no_segment_filter_is_offered_without_segments(client, desk):
    newsletter, *_rest, editor = desk
    client.force_login(editor)
    assert 'name="segment"' not in people_page(client, newsletter).text


def test_another_newsletters_segment_cannot_be_chosen(client, desk):
    newsletter, _releases, _contributors, _people, outsider, editor = desk
    theirs = segments.segment_create(
        newsletter=outsider.newsletter,
        name="All",
        rules={"field": "list", "op": "member", "value": "releases"},
    )
    client.force_login(editor)
    page = people_page(client, newsletter, segment=theirs.pk, HTTP_HX_REQUEST="true").text
    assert "Segment: Select a valid choice" in page
    assert "data-matching" not in page


def test_a_segment_broken_since_it_was_saved_is_explained(client, desk):
    newsletter, *_rest, editor = desk
    field = fields.field_create(newsletter=newsletter, key="sdk", label="SDK")
    segment = segments.segment_create(
        newsletter=newsletter, name="SDK users", rules={"field": "sdk", "op": "eq", "value": "go"}
    )
    fields.field_delete(field=field)
    client.force_login(editor)
    page = people_page(client, newsletter, segment=segment.pk, HTTP_HX_REQUEST="true").text
    assert "Segment: This segment cannot be used now:" in page
    assert "sdk" in page


def test_bulk_on_everyone_matching_keeps_to_the_segment(client, desk):
    newsletter, releases, _contributors, people, outsider, editor = desk
    segment = segments.segment_create(
        newsletter=newsletter, name="Contributors", rules=ON_CONTRIBUTORS
    )
    client.force_login(editor)
    post_bulk(
        client,
        newsletter,
        segment=segment.pk,
        action="remove",
        scope="all",
        target=releases.slug,
    )
    left = Subscriber.objects.filter(
        newsletter=newsletter,
        subscriptions__mailing_list=releases,
        subscriptions__status="unsubscribed",
    )
    assert {each.email for each in left} == {person.email for person in people[:3]}
    assert outsider.subscriptions.get().status != "unsubscribed"
