"""The subscribers page: how many match, and bulk actions on the ticked people or on
everyone matching, scoped to the newsletter, each change in the consent ledger."""

import csv
import io

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from newsletter.models import Role
from subscribers import bulk, exporting, ledger, selectors, services
from subscribers.models import (
    BulkJobAction,
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
)
from subscribers.tokens import Claim
from tests.factories import MailingListFactory, MembershipFactory

pytestmark = pytest.mark.django_db


def attested(newsletter, lists, email: str) -> Subscriber:
    return services.subscribe(
        newsletter=newsletter,
        email=email,
        lists=lists,
        source=ConsentSource.DASHBOARD,
        wording="x",
        attestation="Signed up at the booth",
    ).subscriber


@pytest.fixture
def desk():
    """News with 15 people on Releases, 3 of them also on Contributors; an editor; and
    another newsletter whose person must never be touched."""
    releases = MailingListFactory(slug="releases", name="Releases")
    newsletter = releases.newsletter
    contributors = MailingListFactory(
        newsletter=newsletter, slug="contributors", name="Contributors"
    )
    people = [
        attested(newsletter, [releases], f"person{number:02}@example.org") for number in range(15)
    ]
    for person in people[:3]:
        attested(newsletter, [contributors], person.email)
    outsider_list = MailingListFactory(slug="releases", name="Releases")
    outsider = attested(outsider_list.newsletter, [outsider_list], "person00@example.org")
    editor = MembershipFactory(newsletter=newsletter, role=Role.EDITOR).user
    return newsletter, releases, contributors, people, outsider, editor


def post_bulk(client, newsletter, **data):
    return client.post(reverse("dashboard:subscriber_bulk", args=[newsletter.slug]), data)


def said(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_the_page_says_how_many_match_the_filters(client, desk):
    newsletter, _releases, _contributors, _people, _outsider, editor = desk
    client.force_login(editor)
    url = reverse("dashboard:subscriber_list", args=[newsletter.slug])
    assert 'data-matching="15"' in client.get(url).content.decode()
    page = client.get(url, {"list": "contributors"}).content.decode()
    assert 'data-matching="3"' in page and "3 people match" in page
    assert "All 3 people matching" in page


def test_adding_everyone_matching_to_a_list_reports_what_it_did(client, desk):
    newsletter, _releases, contributors, people, outsider, editor = desk
    services.unsubscribe(
        claim=Claim(people[14].pk, newsletter.pk), source=ConsentSource.UNSUBSCRIBE_PAGE
    )
    client.force_login(editor)
    response = post_bulk(
        client,
        newsletter,
        action="add",
        target="contributors",
        attestation="Asked at the 2026 summit",
        scope="all",
        q="person",
    )
    assert response.status_code == 302 and "q=person" in response["Location"]
    assert said(response) == [
        "11 people added to Contributors; 3 were already; "
        "1 left, bounced or complained: only they can come back."
    ]
    confirmed = Subscription.objects.filter(
        mailing_list=contributors, status=SubscriptionStatus.CONFIRMED
    )
    assert confirmed.count() == 14
    event = ConsentEvent.objects.filter(
        subscriber=people[5], mailing_list=contributors, action=ConsentAction.SUBSCRIBED
    ).get()
    assert event.details["actor"].startswith(editor.username)
    assert event.details["attestation"] == "Asked at the 2026 summit"
    assert not outsider.subscriptions.filter(mailing_list__slug="contributors").exists()


def test_removing_and_unsubscribing_the_ticked_people_stays_in_the_newsletter(client, desk):
    newsletter, _releases, _contributors, people, outsider, editor = desk
    client.force_login(editor)
    response = post_bulk(
        client,
        newsletter,
        action="remove",
        target="contributors",
        scope="selected",
        ids=[people[0].pk, people[5].pk, outsider.pk],
    )
    assert said(response) == ["1 person removed from Contributors; 1 was not on it."]
    response = post_bulk(
        client, newsletter, action="unsubscribe", scope="selected", ids=[people[1].pk, outsider.pk]
    )
    assert said(response)[-1] == "1 person unsubscribed from all lists."
    people[1].refresh_from_db()
    assert people[1].status == SubscriberStatus.UNSUBSCRIBED
    event = ConsentEvent.objects.filter(
        subscriber=people[1], action=ConsentAction.UNSUBSCRIBED
    ).first()
    assert event.source == ConsentSource.DASHBOARD and editor.username in event.details["actor"]
    outsider.refresh_from_db()
    assert outsider.status == SubscriberStatus.ACTIVE
    assert outsider.subscriptions.get().status == SubscriptionStatus.CONFIRMED


def test_bad_input_names_the_field_and_changes_nothing(client, desk):
    newsletter, _releases, _contributors, _people, _outsider, editor = desk
    client.force_login(editor)
    before = ConsentEvent.objects.count()
    response = post_bulk(
        client, newsletter, action="add", target="contributors", scope="selected", ids=[1]
    )
    assert said(response) == ["How they agreed: Say how these people agreed to receive this list."]
    response = post_bulk(client, newsletter, action="remove", scope="selected")
    assert any(message.startswith("List:") for message in said(response))
    assert ConsentEvent.objects.count() == before


def test_viewers_cannot_act_in_bulk(client, desk):
    newsletter, _releases, _contributors, _people, _outsider, _editor = desk
    viewer = MembershipFactory(newsletter=newsletter, role=Role.VIEWER).user
    client.force_login(viewer)
    response = post_bulk(client, newsletter, action="unsubscribe", scope="all")
    assert response.status_code == 403
    assert not Subscriber.objects.filter(status=SubscriberStatus.UNSUBSCRIBED).exists()


def test_the_selection_exports_as_csv_with_its_lists(client, desk):
    newsletter, _releases, _contributors, people, _outsider, editor = desk
    client.force_login(editor)
    response = post_bulk(client, newsletter, action="export", scope="all", list="contributors")
    assert response["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["email"] for row in rows] == [person.email for person in people[:3]]
    assert rows[0]["lists"] == "releases:confirmed contributors:confirmed"


def test_each_chunk_commits_on_its_own(desk, monkeypatch):
    """A bulk action cut short keeps what its committed chunks did, and a second run
    finishes the rest without doing anything twice."""
    newsletter, _releases, contributors, _people, _outsider, _editor = desk
    monkeypatch.setattr(bulk, "CHUNK_SIZE", 4)
    calls = {"n": 0}
    real = ledger.bulk_append

    def dies_in_the_second_chunk(**kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("worker killed")
        return real(**kwargs)

    monkeypatch.setattr(ledger, "bulk_append", dies_in_the_second_chunk)
    contacts = selectors.subscribers_of(newsletter)
    order = bulk.BulkRequest(
        newsletter=newsletter,
        action=BulkJobAction.ADD,
        mailing_list=contributors,
        attestation="x",
        actor="eddie",
    )
    with pytest.raises(RuntimeError):
        bulk.bulk_apply(request=order, contacts=contacts)
    # The first chunk (3 already there, 1 added) committed; the second rolled back whole.
    assert contributors.subscriptions.count() == 4
    monkeypatch.setattr(ledger, "bulk_append", real)
    outcome = bulk.bulk_apply(request=order, contacts=contacts)
    assert (outcome.changed, outcome.already) == (11, 4)
    assert contributors.subscriptions.count() == 15
    added = ConsentEvent.objects.filter(mailing_list=contributors, action=ConsentAction.SUBSCRIBED)
    assert added.count() == 15  # 3 by the fixture, 12 by the action: once each


def test_a_big_selection_exports_chunk_by_chunk_in_id_order_and_formula_safe(
    client, desk, monkeypatch
):
    newsletter, _releases, _contributors, people, _outsider, editor = desk
    monkeypatch.setattr(exporting, "EXPORT_CHUNK", 4)
    services.update_subscriber(newsletter=newsletter, subscriber=people[6], name="=HYPERLINK(1)")
    client.force_login(editor)
    response = post_bulk(client, newsletter, action="export", scope="all")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["email"] for row in rows] == [person.email for person in people]
    assert rows[6]["name"] == "'=HYPERLINK(1)"
