"""``/api/v1/fields/``, ``/api/v1/segments/`` and a campaign's ``segment``: typed values on
every API write, rules refused by part, the count shown is the count sent, and one
newsletter's token never reaches another's segments."""

import pytest
from django.db import connection
from django.test import Client

from audiences.models import Segment
from audiences.rules import compile_rules
from delivery.models import Delivery
from subscribers import services as subscribers
from subscribers.models import ConsentSource, Subscriber, Subscription, SubscriptionStatus
from tests.api.conftest import make_api
from tests.factories import (
    FieldDefinitionFactory,
    MailingListFactory,
    NewsletterFactory,
    SegmentFactory,
    SubscriberFactory,
)

pytestmark = pytest.mark.django_db
PYTHON = {"all": [{"field": "sdk", "op": "eq", "value": "python"}]}


def readers(newsletter, mailing_list, sdks):
    """Confirmed readers, one per SDK (None: no value)."""
    for n, sdk in enumerate(sdks):
        outcome = subscribers.subscribe(
            newsletter=newsletter,
            email=f"reader{n}@example.org",
            lists=[mailing_list],
            source=ConsentSource.API,
            wording="x",
            attestation="test audience",
        )
        if sdk:
            subscribers.update_subscriber(
                newsletter=newsletter, subscriber=outcome.subscriber, attributes={"sdk": sdk}
            )


def test_fields_define_and_check_values(api, newsletter, news):
    created = api.post(
        "/api/v1/fields/",
        {"key": "sdk", "label": "SDK", "type": "choice", "choices": ["python", "rust"]},
    )
    assert created.status_code == 201, created.json()
    assert created.json()["choices"] == ["python", "rust"]
    assert api.post("/api/v1/fields/", {"key": "commits", "label": "Commits", "type": "number"})
    assert [f["key"] for f in api.get("/api/v1/fields/").json()["items"]] == ["sdk", "commits"]

    readers(newsletter, news, [None])
    subscriber_id = Subscriber.objects.get(email="reader0@example.org").pk
    bad = api.patch(
        f"/api/v1/subscribers/{subscriber_id}/",
        {"name": "Ada", "attributes": {"sdk": "cobol", "commits": "lots", "free": 1}},
    )
    assert bad.status_code == 422
    assert set(bad.json()["errors"]) == {"attributes.sdk", "attributes.commits"}
    assert "not one of python, rust" in bad.json()["errors"]["attributes.sdk"][0]
    assert Subscriber.objects.get(pk=subscriber_id).name != "Ada"  # nothing half-written
    good = api.patch(
        f"/api/v1/subscribers/{subscriber_id}/",
        {"attributes": {"sdk": "Python", "commits": "12", "free": "x"}},
    )
    assert good.json()["attributes"] == {"sdk": "python", "commits": 12, "free": "x"}

    created = api.post(
        "/api/v1/subscribers/",
        {"email": "new@example.org", "lists": ["news"], "attributes": {"commits": "x"}},
    )
    assert created.status_code == 422
    assert not Subscriber.objects.filter(email="new@example.org").exists()

    assert api.post("/api/v1/fields/", {"key": "list", "label": "L"}).status_code == 422
    assert api.post("/api/v1/fields/", {"key": "sdk", "label": "Again"}).status_code == 422
    patched = api.patch("/api/v1/fields/sdk/", {"label": "Python SDK", "editable_by_reader": True})
    assert (patched.json()["label"], patched.json()["shown_to_reader"]) == ("Python SDK", True)


def test_a_field_refuses_values_already_stored_that_do_not_fit(api, newsletter):
    SubscriberFactory(newsletter=newsletter, email="a@example.org", attributes={"age": "old"})
    refused = api.post("/api/v1/fields/", {"key": "age", "label": "Age", "type": "number"})
    assert refused.status_code == 422
    assert "a@example.org: 'old'" in refused.json()["errors"]["type"][0]


def test_segments_saved_counted_and_refused_by_part(api, newsletter, news):
    FieldDefinitionFactory(
        newsletter=newsletter, key="sdk", type="choice", choices=["python", "go"]
    )
    readers(newsletter, news, ["python", "python", "go", None])
    SubscriberFactory(newsletter=newsletter, attributes={"sdk": "python"})  # on no list

    bad = api.post(
        "/api/v1/segments/",
        {"name": "Py", "rules": {"all": [{"field": "sdk"}, {"field": "sdj", "op": "eq"}]}},
    )
    assert bad.status_code == 422
    assert bad.json()["errors"] == {
        "rules.all[0].op": ['"None" does not fit sdk: use one of eq, neq, in, is_set, is_not_set'],
        "rules.all[1].field": ['no field "sdj" in this newsletter'],
    }
    assert not Segment.objects.exists()

    created = api.post("/api/v1/segments/", {"name": "Python users", "rules": PYTHON})
    assert created.status_code == 201
    segment_id = created.json()["id"]
    assert api.get(f"/api/v1/segments/{segment_id}/count/").json() == {
        "matching": 3,
        "mailable": 2,
    }
    go = {"rules": {"all": [{"field": "sdk", "op": "eq", "value": "go"}]}}
    assert api.post("/api/v1/segments/count/", go).json() == {"matching": 1, "mailable": 1}
    assert api.post("/api/v1/segments/", {"name": "Python users", "rules": PYTHON}).json()[
        "errors"
    ] == {"name": ["This newsletter already has a segment with this name."]}
    renamed = api.patch(f"/api/v1/segments/{segment_id}/", {"name": "Pythonistas"})
    assert renamed.json()["name"] == "Pythonistas"
    assert api.delete("/api/v1/fields/sdk/").status_code == 409  # the segment names it


def test_the_count_shown_is_the_count_sent(api, newsletter, news, releases):
    FieldDefinitionFactory(
        newsletter=newsletter, key="sdk", type="choice", choices=["python", "go"]
    )
    readers(newsletter, news, ["python", "python", "go", None])
    segment = api.post("/api/v1/segments/", {"name": "Py", "rules": PYTHON}).json()
    shown = api.get(f"/api/v1/segments/{segment['id']}/count/").json()["mailable"]

    campaign = api.post(
        "/api/v1/campaigns/",
        {"name": "Py", "subject": "For Python users", "body": "Hi", "segment": segment["id"]},
    ).json()
    assert (campaign["segment"], campaign["lists"]) == (segment["id"], [])
    assert api.delete(f"/api/v1/segments/{segment['id']}/").status_code == 409
    sent = api.post(f"/api/v1/campaigns/{campaign['id']}/send/")
    assert sent.json() == {"status": "sending", "recipients": shown}
    picked = set(
        Delivery.objects.filter(campaign_id=campaign["id"]).values_list(
            "subscriber__attributes__sdk", flat=True
        )
    )
    assert picked == {"python"}

    narrowed = api.post(
        "/api/v1/campaigns/",
        {"name": "Rel", "subject": "Releases", "body": "Hi", "lists": ["releases"]},
    ).json()
    patched = api.patch(f"/api/v1/campaigns/{narrowed['id']}/", {"segment": segment["id"]})
    assert patched.json()["segment"] == segment["id"]
    refused = api.post(f"/api/v1/campaigns/{narrowed['id']}/send/")
    assert refused.status_code == 409  # nobody on releases is in the segment
    assert (
        api.patch(f"/api/v1/campaigns/{narrowed['id']}/", {"segment": None}).json()["segment"]
        is None
    )


def test_one_newsletter_never_reaches_another_newsletters_segments(api, newsletter):
    other = NewsletterFactory()
    theirs = SegmentFactory(newsletter=other)
    FieldDefinitionFactory(newsletter=other, key="planet")
    assert api.get(f"/api/v1/segments/{theirs.pk}/").status_code == 404
    assert api.get(f"/api/v1/segments/{theirs.pk}/count/").status_code == 404
    assert api.patch(f"/api/v1/segments/{theirs.pk}/", {"name": "x"}).status_code == 404
    assert api.delete(f"/api/v1/segments/{theirs.pk}/").status_code == 404
    assert api.get("/api/v1/segments/").json()["items"] == []
    assert api.get("/api/v1/fields/").json()["items"] == []
    assert api.get("/api/v1/fields/planet/").status_code == 404
    made = api.post(
        "/api/v1/campaigns/",
        {"name": "X", "subject": "X", "body": "Hi", "segment": theirs.pk},
    )
    assert made.status_code == 422
    assert "segment" in made.json()["errors"]
    planet = {"rules": {"all": [{"field": "planet", "op": "is_set"}]}}
    assert api.post("/api/v1/segments/count/", planet).status_code == 422
    viewer = make_api(newsletter, role="viewer", username="viewer")
    assert viewer.post("/api/v1/segments/", {"name": "V", "rules": {"all": []}}).status_code == 403


def _every_page(api, query: dict) -> list[str]:
    """Every address the subscribers endpoint returns for ``query``, one at a time."""
    seen, cursor = [], None
    while True:
        body = api.get(
            "/api/v1/subscribers/", {**query, "limit": 1, **({"cursor": cursor} if cursor else {})}
        ).json()
        seen += [item["email"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return seen


def test_subscribers_filtered_by_a_segment_are_the_people_its_compiled_rules_pick(
    api, newsletter, news, releases
):
    FieldDefinitionFactory(
        newsletter=newsletter, key="sdk", type="choice", choices=["python", "go"]
    )
    readers(newsletter, news, ["python", "go", "python", None, "python"])
    Subscription.objects.filter(subscriber__email="reader4@example.org").update(
        status=SubscriptionStatus.UNSUBSCRIBED
    )
    other = NewsletterFactory()
    FieldDefinitionFactory(newsletter=other, key="sdk", type="choice", choices=["python"])
    SubscriberFactory(newsletter=other, email="elsewhere@example.org", attributes={"sdk": "python"})
    segment = SegmentFactory(newsletter=newsletter, rules=PYTHON)

    picked = _every_page(api, {"segment": segment.pk})

    compiled = compile_rules(PYTHON, newsletter=newsletter)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT s.email FROM subscribers_subscriber s WHERE s.newsletter_id = %(n)s"  # noqa: S608
            f" AND ({compiled.sql}) ORDER BY s.id",
            {**compiled.params, "n": newsletter.pk},
        )
        assert picked == [email for (email,) in cursor.fetchall()]
    # Whatever their consent, like the builder's "matching": reader4 left every list.
    assert picked == ["reader0@example.org", "reader2@example.org", "reader4@example.org"]
    assert _every_page(api, {"segment": segment.pk, "subscription_status": "confirmed"}) == [
        "reader0@example.org",
        "reader2@example.org",
    ]
    assert _every_page(api, {"segment": segment.pk, "list": "releases"}) == []


def test_a_segment_filter_names_an_unknown_or_broken_segment_and_shows_nobody(
    api, newsletter, news
):
    readers(newsletter, news, [None])
    theirs = SegmentFactory(newsletter=NewsletterFactory())
    for segment_id in (theirs.pk, theirs.pk + 1000):
        refused = api.get("/api/v1/subscribers/", {"segment": segment_id})
        assert refused.status_code == 422
        assert refused.json()["errors"] == {
            "segment": [f"No segment {segment_id} in this newsletter."]
        }
    assert api.get("/api/v1/subscribers/", {"segment": "news"}).status_code == 422

    spare = MailingListFactory(newsletter=newsletter, slug="spare")
    off_spare = SegmentFactory(
        newsletter=newsletter,
        rules={"not": {"field": "list", "op": "member", "value": "spare"}},
    )
    assert _every_page(api, {"segment": off_spare.pk}) == ["reader0@example.org"]
    spare.delete()  # the segment now names a list that is gone: not "everyone"
    broken = api.get("/api/v1/subscribers/", {"segment": off_spare.pk})
    assert broken.status_code == 422
    assert broken.json()["errors"]["segment"][0].startswith("This segment cannot be used now:")
    assert "spare" in broken.json()["errors"]["segment"][0]


def test_the_schema_offers_the_segment_filter():
    schema = Client().get("/api/v1/openapi.json").json()
    parameters = schema["paths"]["/api/v1/subscribers/"]["get"]["parameters"]
    assert "segment" in {parameter["name"] for parameter in parameters}
