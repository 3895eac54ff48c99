import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from newsletter.models import Role
from subscribers import ledger, services, suppressions
from subscribers.models import (
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
    SuppressionReason,
)
from tests.api.conftest import make_api
from tests.factories import (
    MailingListFactory,
    NewsletterFactory,
    SubscriberFactory,
    SubscriptionFactory,
)

pytestmark = pytest.mark.django_db
URL = "/api/v1/subscribers/"


def test_subscribing_starts_double_opt_in_with_the_newsletters_wording(
    api, news, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = api.post(
            URL,
            {"email": "Ada@Example.ORG", "name": "Ada", "lists": ["news"], "attributes": {"a": 1}},
        )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["email"] == "Ada@example.org"
    assert body["attributes"] == {"a": 1}
    assert [(item["slug"], item["status"]) for item in body["lists"]] == [("news", "pending")]
    assert len(callbacks) == 1  # the confirmation mail, queued after commit
    event = ConsentEvent.objects.get()
    assert (event.action, event.source, event.wording) == (
        ConsentAction.SUBSCRIBED,
        ConsentSource.API,
        "Yes, send me Proj News.",
    )
    assert event.details == {"opt_in": "double"}


def test_attested_subscription_is_confirmed_and_names_the_token_owner(api, news):
    response = api.post(
        URL, {"email": "ada@example.org", "lists": ["news"], "attestation": "Paper form, FOSDEM"}
    )
    assert response.status_code == 201
    assert response.json()["lists"][0]["status"] == "confirmed"
    event = ConsentEvent.objects.get()
    assert event.details["attestation"] == "Paper form, FOSDEM"
    assert event.details["actor"].startswith("robot (API token crier_")
    assert len(mail.outbox) == 0


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"email": "not an address", "lists": ["news"]}, "email"),
        ({"email": "ada@example.org", "lists": []}, "lists"),
        ({"email": "ada@example.org", "lists": ["nope"]}, "lists"),
        ({"email": "ada@example.org", "lists": ["news"], "attributes": [1]}, "attributes"),
        ({"lists": ["news"]}, "email"),
        ({"email": "ada@example.org", "lists": ["news"], "name": "x" * 201}, "name"),
    ],
)
def test_invalid_input_gets_a_message_per_field_and_writes_nothing(api, news, payload, field):
    response = api.post(URL, payload)
    assert response.status_code == 422, response.content
    body = response.json()
    assert body["detail"] == "Invalid input."
    assert list(body["errors"]) == [field]
    assert body["errors"][field][0]
    assert not Subscriber.objects.exists()
    assert not ConsentEvent.objects.exists()


def test_nothing_is_half_written_when_a_later_step_fails(api, news, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(services, "update_subscriber", broken)
    api.client.raise_request_exception = False
    response = api.post(
        URL, {"email": "ada@example.org", "lists": ["news"], "attributes": {"a": 1}}
    )
    assert response.status_code == 500
    assert not Subscriber.objects.exists()
    assert not ConsentEvent.objects.exists()


def test_a_suppressed_address_is_accepted_but_not_subscribed(api, news):
    suppressions.suppress(
        email="gone@example.org", reason=SuppressionReason.COMPLAINT, newsletter=None
    )
    response = api.post(URL, {"email": "gone@example.org", "lists": ["news"]})
    assert response.status_code == 202
    assert not Subscriber.objects.exists()


def test_viewer_tokens_cannot_write(newsletter, news, redis_client):
    viewer = make_api(newsletter, role=Role.VIEWER, username="reader")
    assert viewer.get(URL).status_code == 200
    assert viewer.post(URL, {"email": "a@example.org", "lists": ["news"]}).status_code == 403


def test_find_by_email_and_only_in_this_newsletter(api, news):
    mine = SubscriptionFactory(mailing_list=news, subscriber__email="Ada@example.org")
    SubscriptionFactory(mailing_list=MailingListFactory(newsletter=NewsletterFactory()))
    response = api.get(URL, {"email": "ada@EXAMPLE.org"})
    assert [item["id"] for item in response.json()["items"]] == [mine.subscriber_id]
    assert len(api.get(URL).json()["items"]) == 1
    assert api.get(URL, {"email": "nope"}).json()["errors"]["email"]


def test_other_newsletters_subscribers_and_lists_are_invisible(api, news):
    other_list = MailingListFactory(newsletter=NewsletterFactory())
    mine = SubscriptionFactory(
        mailing_list=news, subscriber__email="both@example.org", subscriber__name="Ada"
    ).subscriber
    theirs = SubscriptionFactory(
        mailing_list=other_list, subscriber__email="both@example.org", subscriber__name="Dr Ada"
    ).subscriber
    stranger = SubscriptionFactory(mailing_list=other_list).subscriber
    body = api.get(f"{URL}{mine.pk}/").json()
    assert [item["slug"] for item in body["lists"]] == ["news"]
    assert body["name"] == "Ada"
    assert [item["id"] for item in api.get(URL, {"email": "both@example.org"}).json()["items"]] == [
        mine.pk
    ]
    for foreign in (theirs, stranger):
        assert api.get(f"{URL}{foreign.pk}/").status_code == 404
    assert api.patch(f"{URL}{stranger.pk}/", {"name": "x"}).status_code == 404
    assert api.delete(f"{URL}{stranger.pk}/").status_code == 404


def test_filters_by_list_status_attribute_and_date(api, news, releases):
    lyon = SubscriberFactory(newsletter=news.newsletter, attributes={"city": "Lyon", "plan": "pro"})
    paris = SubscriberFactory(
        newsletter=news.newsletter, attributes={"city": "Paris"}, status=SubscriberStatus.BOUNCED
    )
    SubscriptionFactory(subscriber=lyon, mailing_list=news)
    SubscriptionFactory(
        subscriber=paris, mailing_list=releases, status=SubscriptionStatus.UNSUBSCRIBED
    )

    def ids(**query):
        response = api.get(URL, query)
        assert response.status_code == 200, response.content
        return [item["id"] for item in response.json()["items"]]

    assert ids(list="news") == [lyon.pk]
    assert ids(status="bounced") == [paris.pk]
    assert ids(subscription_status="unsubscribed") == [paris.pk]
    assert ids(attribute=["city:Lyon", "plan:pro"]) == [lyon.pk]
    assert ids(attribute="city:Nantes") == []
    assert ids(created_after="2000-01-01T00:00:00Z") == [lyon.pk, paris.pk]
    assert ids(created_before="2000-01-01T00:00:00Z") == []
    assert ids(created_after="1507-06-19T19:32:54+17:29") == [lyon.pk, paris.pk]
    assert ids(created_after="2000-01-01T00:00:00") == [lyon.pk, paris.pk]
    assert api.get(URL, {"created_after": "0001-01-01T00:00:00+05:00"}).json()["errors"] == {
        "created_after": ["Out of range."]
    }
    assert api.get(URL, {"list": "nope"}).json()["errors"] == {
        "lists": ["No such list in this newsletter: nope."]
    }
    assert list(api.get(URL, {"status": "sleepy"}).json()["errors"]) == ["status"]
    assert list(api.get(URL, {"attribute": "nocolon"}).json()["errors"]) == ["attribute"]


def test_cursor_pagination_walks_every_subscriber_once(api, news):
    expected = [SubscriptionFactory(mailing_list=news).subscriber_id for _ in range(7)]
    seen, cursor = [], None
    while True:
        query = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        body = api.get(URL, query).json()
        seen += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == expected
    assert api.get(URL, {"cursor": "!!"}).json()["errors"] == {
        "cursor": ["Not a cursor from a previous page."]
    }
    assert list(api.get(URL, {"limit": 0}).json()["errors"]) == ["limit"]


def test_a_page_costs_the_same_queries_for_5_or_50_subscribers(api, news, releases):
    def queries_for(count: int) -> int:
        for _ in range(count):
            subscriber = SubscriberFactory(newsletter=news.newsletter)
            SubscriptionFactory(subscriber=subscriber, mailing_list=news)
            SubscriptionFactory(subscriber=subscriber, mailing_list=releases)
        with CaptureQueriesContext(connection) as context:
            response = api.get(URL, {"limit": 500})
        assert response.status_code == 200
        return len(context.captured_queries)

    api.get(URL)  # records the token's last use, once a minute
    assert queries_for(5) == queries_for(45) <= 6


def test_patch_changes_name_merges_attributes_and_switches_lists(api, news, releases):
    subscriber = SubscriberFactory(
        newsletter=news.newsletter, name="Old", attributes={"keep": 1, "drop": 2}
    )
    SubscriptionFactory(subscriber=subscriber, mailing_list=news)
    response = api.patch(
        f"{URL}{subscriber.pk}/",
        {
            "name": "New",
            "attributes": {"drop": None, "add": "x"},
            "lists": ["releases"],
            "attestation": "Asked us by email",
        },
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["name"] == "New"
    assert body["attributes"] == {"keep": 1, "add": "x"}
    assert {(item["slug"], item["status"]) for item in body["lists"]} == {
        ("news", "unsubscribed"),
        ("releases", "confirmed"),
    }
    actions = list(
        ConsentEvent.objects.filter(subscriber=subscriber).values_list("action", "source")
    )
    # The new list is joined first: the switch never leaves the contact on no list.
    assert actions == [
        (ConsentAction.SUBSCRIBED, ConsentSource.API),
        (ConsentAction.UNSUBSCRIBED, ConsentSource.API),
    ]
    assert ledger.verify_chain(subscriber).valid
    subscriber.refresh_from_db()
    assert subscriber.status == "active"


def test_patch_rejects_unknown_lists_and_changes_nothing(api, news):
    subscriber = SubscriptionFactory(mailing_list=news, subscriber__name="Same").subscriber
    response = api.patch(f"{URL}{subscriber.pk}/", {"name": "Changed", "lists": ["nope"]})
    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["lists"]
    subscriber.refresh_from_db()
    assert subscriber.name == "Same"


def test_delete_erases_the_person(api, news):
    subscriber = SubscriptionFactory(mailing_list=news).subscriber
    assert api.delete(f"{URL}{subscriber.pk}/").status_code == 204
    subscriber.refresh_from_db()
    assert subscriber.status == SubscriberStatus.ERASED and subscriber.email is None
    assert not Subscription.objects.exists()
    assert ConsentEvent.objects.get().action == ConsentAction.ERASED
    assert api.get(f"{URL}{subscriber.pk}/").status_code == 404


def test_lists_can_be_created_once_per_slug(api, news):
    response = api.post("/api/v1/lists/", {"slug": "events", "name": "Events", "opt_in": "single"})
    assert response.status_code == 201
    assert response.json()["opt_in"] == "single"
    again = api.post("/api/v1/lists/", {"slug": "events", "name": "Again"})
    assert again.status_code == 422
    assert again.json()["errors"] == {
        "slug": ["This newsletter already has a list with this slug."]
    }
    bad = api.post("/api/v1/lists/", {"slug": "no spaces", "name": ""})
    assert set(bad.json()["errors"]) == {"slug", "name"}
