"""Custom field values on every write path: normalised by type, refused by name, nothing
half-written; the import reports a bad value by its line; the public form keeps answers
for new contacts only."""

from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from subscribers import fields, importing, services
from subscribers.fields import FieldSchema
from subscribers.models import Subscriber
from tests.factories import (
    FieldDefinitionFactory,
    MailingListFactory,
    MembershipFactory,
    SubscriberFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def newsletter():
    mailing_list = MailingListFactory(slug="news", name="News", opt_in="single")
    newsletter = mailing_list.newsletter
    FieldDefinitionFactory(
        newsletter=newsletter,
        key="sdk",
        label="SDK",
        type="choice",
        choices=["python", "rust"],
        shown_to_reader=True,
    )
    FieldDefinitionFactory(
        newsletter=newsletter,
        key="commits",
        label="Commits",
        type="number",
        editable_by_reader=True,
        shown_to_reader=True,
        on_public_form=True,
    )
    FieldDefinitionFactory(
        newsletter=newsletter,
        key="since",
        label="Contributor since",
        type="date",
        editable_by_reader=True,
        shown_to_reader=True,
    )
    FieldDefinitionFactory(newsletter=newsletter, key="sponsor", label="Sponsor", type="yes_no")
    return newsletter  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ({"sdk": "Python"}, {"sdk": "python"}),
        ({"commits": " 12 "}, {"commits": 12}),
        ({"commits": "3.50"}, {"commits": 3.5}),
        ({"since": "2024-05-01T10:00:00+02:00"}, {"since": "2024-05-01"}),
        ({"sponsor": "Oui"}, {"sponsor": True}),
        ({"sponsor": "0"}, {"sponsor": False}),
        ({"commits": ""}, {"commits": None}),
        ({"free": {"any": "thing"}}, {"free": {"any": "thing"}}),
    ],
)
def test_values_are_normalised_by_type(newsletter, raw, stored):
    assert FieldSchema.of(newsletter).clean(raw) == stored


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ({"sdk": "cobol"}, "not one of python, rust"),
        ({"commits": "many"}, "not a number"),
        ({"commits": True}, "not a number"),
        ({"commits": "nan"}, "not a number"),
        ({"since": "next week"}, "not a date"),
        ({"since": "2024-02-30"}, "not a date"),
        ({"sponsor": "maybe"}, "not yes or no"),
    ],
)
def test_bad_values_are_refused_by_name(newsletter, raw, words):
    with pytest.raises(ValidationError) as error:
        FieldSchema.of(newsletter).clean(raw)
    ((name, messages),) = error.value.message_dict.items()
    assert name == f"attributes.{next(iter(raw))}"
    assert words in messages[0]


def test_a_bad_value_changes_nothing_in_the_service(newsletter):
    contact = SubscriberFactory(newsletter=newsletter, name="Ada", attributes={"sdk": "rust"})
    with pytest.raises(ValidationError):
        services.update_subscriber(
            newsletter=newsletter,
            subscriber=contact,
            name="Changed",
            attributes={"sdk": "python", "commits": "x"},
        )
    contact.refresh_from_db()
    assert (contact.name, contact.attributes) == ("Ada", {"sdk": "rust"})


def test_keys_and_types_never_change_and_reserved_keys_are_refused(newsletter):
    field = newsletter.field_definitions.get(key="sdk")
    with pytest.raises(ValidationError, match="cannot change"):
        fields.field_update(field=field, type="text")
    with pytest.raises(ValidationError, match="built-in rule name"):
        fields.field_create(newsletter=newsletter, key="opened", label="Opened")
    with pytest.raises(ValidationError, match="at least one choice"):
        fields.field_create(newsletter=newsletter, key="os", label="OS", type="choice")


def test_an_import_maps_columns_onto_fields_and_reports_bad_values_by_line(tmp_path, newsletter):
    mailing_list = newsletter.lists.get()
    path = Path(tmp_path) / "people.csv"
    path.write_text(
        "email,SDK,commits,city\n"
        "ada@example.org,Python,12,Paris\n"
        "bob@example.org,cobol,3,Lyon\n"
        "cy@example.org,rust,lots,Nice\n"
        "dee@example.org,,,\n",
        encoding="utf-8",
    )
    report = importing.dry_run(path=path, schema=FieldSchema.of(newsletter))
    assert [line for line, _reason in report.problems] == [3, 4]
    batch = importing.start_import(
        newsletter=newsletter, mailing_list=mailing_list, attestation="Yes", actor="t"
    )
    batch = importing.import_file(batch=batch, path=path)
    reasons = dict(batch.problems.values_list("line", "reason"))
    assert "SDK: not one of python, rust" in reasons[3]
    assert "Commits: not a number" in reasons[4]
    attributes = dict(
        Subscriber.objects.filter(newsletter=newsletter).values_list("email", "attributes")
    )
    assert attributes == {
        "ada@example.org": {"sdk": "python", "commits": 12, "city": "Paris"},
        "dee@example.org": {},
    }


def test_the_public_form_asks_its_fields_and_keeps_answers_for_new_contacts_only(
    client, newsletter
):
    url = reverse("subscribers:subscribe", args=[newsletter.slug])
    page = client.get(reverse("subscribers:newsletter", args=[newsletter.slug])).content.decode()
    assert 'name="field_commits"' in page and 'name="field_since"' not in page
    base = {"lists": ["news"], "consent": "on"}
    refused = client.post(url, {**base, "email": "new@example.org", "field_commits": "x"})
    assert refused.status_code == 422
    assert not Subscriber.objects.filter(email="new@example.org").exists()
    client.post(url, {**base, "email": "new@example.org", "field_commits": "7"})
    assert Subscriber.objects.get(email="new@example.org").attributes == {"commits": 7}
    SubscriberFactory(newsletter=newsletter, email="old@example.org", attributes={"commits": 1})
    client.post(url, {**base, "email": "old@example.org", "field_commits": "999"})
    assert Subscriber.objects.get(email="old@example.org").attributes == {"commits": 1}


def test_the_dashboard_edits_a_contacts_fields(client, newsletter):
    editor = MembershipFactory(newsletter=newsletter, role="editor")
    client.force_login(editor.user)
    contact = SubscriberFactory(newsletter=newsletter, attributes={"sdk": "rust", "free": "x"})
    detail = reverse("dashboard:subscriber_detail", args=[newsletter.slug, contact.pk])
    assert 'name="field_sdk"' in client.get(detail).content.decode()
    url = reverse("dashboard:subscriber_fields", args=[newsletter.slug, contact.pk])
    client.post(url, {"field_sdk": "python", "field_commits": "5", "field_sponsor": "yes"})
    contact.refresh_from_db()
    assert contact.attributes == {"sdk": "python", "commits": 5, "sponsor": True, "free": "x"}
    answer = client.post(url, {"field_commits": "five"}, follow=True).content.decode()
    assert "Commits: not a number" in answer
    contact.refresh_from_db()
    assert contact.attributes["commits"] == 5
