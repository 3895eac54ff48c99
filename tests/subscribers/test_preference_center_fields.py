"""Custom fields in the preference center: the person sees what the newsletter shows
them and edits what it lets them edit, checked by type, in their own ledger."""

import pytest
from django.core.exceptions import ValidationError

from subscribers import fields, ledger, preference_center, tokens
from subscribers.models import ConsentAction, ConsentEvent, ConsentSource
from tests.subscribers.test_preference_center import ada, contact_of, docs, kernel, url

__all__ = ["ada", "docs", "kernel"]  # fixtures shared with the preference center tests

pytestmark = pytest.mark.django_db


@pytest.fixture
def kernel_fields(kernel):
    fields.field_create(
        newsletter=kernel, key="sdk", label="Python SDK", type="yes_no", editable_by_reader=True
    )
    fields.field_create(
        newsletter=kernel, key="commits", label="Commits", type="number", editable_by_reader=True
    )
    fields.field_create(newsletter=kernel, key="tier", label="Sponsor tier", shown_to_reader=True)
    fields.field_create(newsletter=kernel, key="score", label="Internal score", type="number")


@pytest.fixture
def ada_with_values(ada, kernel_fields):
    ada.attributes = {"sdk": True, "tier": "gold", "score": 7, "free": "kept"}
    ada.save()
    return ada


def post_fields(client, contact, **values):
    data = {"action": "save_fields", "newsletter": contact.newsletter_id}
    data.update({f"f{contact.newsletter_id}-field_{key}": value for key, value in values.items()})
    return client.post(url(contact), data)


def test_the_page_shows_visible_fields_with_values_and_hides_the_others(client, ada_with_values):
    page = client.get(url(ada_with_values)).text
    assert "What Kernel News knows about you" in page
    assert "Sponsor tier" in page and "gold" in page  # shown, read-only
    assert f'name="f{ada_with_values.newsletter_id}-field_tier"' not in page
    assert f'name="f{ada_with_values.newsletter_id}-field_sdk"' in page
    assert '<option value="yes" selected>' in page
    assert "Internal score" not in page  # not shown to readers


def test_a_newsletter_without_reader_fields_shows_no_such_section(client, ada):
    assert "knows about you" not in client.get(url(ada)).text


def test_the_person_edits_editable_fields_in_their_own_ledger(client, ada_with_values, kernel):
    response = post_fields(client, ada_with_values, sdk="no", commits="12")
    assert response.status_code == 200
    assert "Your answers are saved." in response.text
    ada = contact_of(kernel)
    assert ada.attributes == {
        "sdk": False,
        "commits": 12,
        "tier": "gold",
        "score": 7,
        "free": "kept",
    }
    event = ConsentEvent.objects.filter(
        subscriber=ada, action=ConsentAction.PREFERENCES_CHANGED
    ).latest("pk")
    assert event.source == ConsentSource.PREFERENCE_CENTER
    assert event.details["changed"] == ["attributes.commits", "attributes.sdk"]
    assert "12" not in str(event.details)  # which fields, never their values
    assert ledger.verify_chain(ada).valid


def test_an_emptied_field_loses_its_value(client, ada_with_values, kernel):
    post_fields(client, ada_with_values, sdk="", commits="")
    assert "sdk" not in contact_of(kernel).attributes


def test_a_bad_value_is_named_and_nothing_is_saved(client, ada_with_values, kernel):
    before = ConsentEvent.objects.count()
    response = post_fields(client, ada_with_values, sdk="no", commits="many")
    assert response.status_code == 422
    assert "Commits: not a number" in response.text
    assert 'value="many"' in response.text  # what they typed stays in the input
    assert contact_of(kernel).attributes["sdk"] is True
    assert ConsentEvent.objects.count() == before


@pytest.mark.parametrize("key", ["tier", "score"])
def test_read_only_and_hidden_fields_cannot_be_written(client, ada_with_values, kernel, key):
    newsletter = ada_with_values.newsletter_id
    client.post(
        url(ada_with_values),
        {"action": "save_fields", "newsletter": newsletter, f"f{newsletter}-field_{key}": "x"},
    )
    stored = contact_of(kernel).attributes
    assert (stored["tier"], stored["score"]) == ("gold", 7)


def test_the_service_refuses_a_field_not_editable_by_name(ada_with_values, kernel):
    with pytest.raises(ValidationError) as error:
        preference_center.reader_fields_save(
            claim=tokens.Claim(ada_with_values.pk, kernel.pk),
            newsletter_id=kernel.pk,
            values={"score": 1, "sdk": "no"},
            evidence=None,
        )
    assert "attributes.score" in error.value.message_dict
    assert contact_of(kernel).attributes["sdk"] is True


def test_one_newsletters_fields_are_saved_on_its_own_contact_only(client, ada, docs, kernel):
    fields.field_create(newsletter=docs, key="team", label="Team", editable_by_reader=True)
    fields.field_create(newsletter=kernel, key="team", label="Team", editable_by_reader=True)
    theirs = contact_of(docs)
    newsletter = docs.pk
    client.post(
        url(ada),  # Kernel's link, acting on the person's Docs contact
        {"action": "save_fields", "newsletter": newsletter, f"f{newsletter}-field_team": "infra"},
    )
    theirs.refresh_from_db()
    assert theirs.attributes == {"team": "infra"}
    assert "team" not in contact_of(kernel).attributes
