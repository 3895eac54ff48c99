"""Archived lists: gone from every form and the public page, kept in the records;
deleted only when nothing would be lost."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from newsletter.models import Role
from subscribers import importing, services, tokens
from subscribers.models import (
    ConsentEvent,
    ConsentSource,
    MailingList,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from tests.factories import (
    CampaignFactory,
    MailingListFactory,
    MembershipFactory,
    NewsletterFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def newsletter():
    newsletter = NewsletterFactory(slug="kernel", name="Kernel News")
    MailingListFactory(newsletter=newsletter, slug="releases", name="Releases")
    MailingListFactory(newsletter=newsletter, slug="old", name="Old announcements")
    return newsletter


@pytest.fixture
def ada(newsletter):
    services.subscribe(
        newsletter=newsletter,
        email="ada@example.org",
        lists=list(newsletter.lists.all()),
        source=ConsentSource.DASHBOARD,
        wording="x",
        attestation="test",
    )
    return Subscriber.objects.get(email="ada@example.org")


def old(newsletter) -> MailingList:
    return newsletter.lists.get(slug="old")


def test_archiving_keeps_subscriptions_and_consent_records(newsletter, ada):
    archived = services.list_archive(mailing_list=old(newsletter))
    assert archived.archived_at is not None
    assert Subscription.objects.get(mailing_list=archived).status == SubscriptionStatus.CONFIRMED
    assert ConsentEvent.objects.filter(mailing_list=archived).count() == 1
    again = services.list_archive(mailing_list=archived)
    assert again.archived_at == archived.archived_at  # archiving twice keeps the first date
    assert services.list_unarchive(mailing_list=archived).archived_at is None


def test_an_archived_list_is_offered_nowhere(client, newsletter, ada):
    services.list_archive(mailing_list=old(newsletter))
    public = client.get("/n/kernel/").content.decode()
    assert "Releases" in public and "Old announcements" not in public
    response = client.post(
        reverse("subscribers:subscribe", args=["kernel"]),
        {"email": "grace@example.org", "lists": ["old"], "consent": "on"},
    )
    assert response.status_code == 422
    assert not Subscriber.objects.filter(email="grace@example.org").exists()

    claim = tokens.Claim(ada.pk, newsletter.pk)
    prefs = client.get(
        reverse("subscribers:preferences", args=[tokens.preferences_token(claim)])
    ).content.decode()
    assert "Releases" in prefs and "Old announcements" not in prefs
    # Saving the preference center leaves the archived subscription as it was.
    client.post(
        reverse("subscribers:preferences", args=[tokens.preferences_token(claim)]),
        {"lists": [str(newsletter.lists.get(slug="releases").pk)], "language": "en"},
    )
    assert Subscription.objects.get(subscriber=ada, mailing_list__slug="old").status == "confirmed"

    with pytest.raises(ValidationError, match="Archived lists take no new subscriptions"):
        services.subscribe(
            newsletter=newsletter,
            email="grace@example.org",
            lists=[old(newsletter)],
            source=ConsentSource.API,
            wording="x",
        )
    with pytest.raises(ValidationError, match="archived"):
        importing.start_import(
            newsletter=newsletter, mailing_list=old(newsletter), attestation="x", actor="t"
        )


def test_leaving_the_newsletter_still_ends_an_archived_subscription(newsletter, ada):
    services.list_archive(mailing_list=old(newsletter))
    ended = services.unsubscribe(
        claim=tokens.Claim(ada.pk, newsletter.pk), source=ConsentSource.UNSUBSCRIBE_PAGE
    )
    assert ended == 2
    assert set(Subscription.objects.filter(subscriber=ada).values_list("status", flat=True)) == {
        "unsubscribed"
    }


def test_a_list_nothing_refers_to_is_deleted(newsletter):
    services.list_delete(mailing_list=old(newsletter))
    assert not newsletter.lists.filter(slug="old").exists()


def test_a_list_with_consent_records_is_never_deleted(newsletter, ada):
    mailing_list = old(newsletter)
    assert services.list_deletion_blockers(mailing_list) == [
        "the consent ledger records people joining or leaving it",
        "people are subscribed to it",
    ]
    with pytest.raises(ValidationError, match="archive it instead"):
        services.list_delete(mailing_list=mailing_list)
    assert MailingList.objects.filter(pk=mailing_list.pk).exists()
    assert ConsentEvent.objects.filter(mailing_list=mailing_list).count() == 1


def test_a_list_a_campaign_is_addressed_to_is_not_deleted(newsletter):
    mailing_list = old(newsletter)
    for n in range(5):
        CampaignFactory(newsletter=newsletter, name=f"Issue {n}").lists.add(mailing_list)
    (reason,) = services.list_deletion_blockers(mailing_list)
    assert reason.startswith("campaigns are addressed to it: “Issue")
    assert reason.endswith(", …")


@pytest.fixture
def editor(client, newsletter):
    membership = MembershipFactory(newsletter=newsletter, role=Role.EDITOR)
    client.force_login(membership.user)
    return client


def url(name, *args):
    return reverse(f"dashboard:{name}", args=["kernel", *args])


def test_the_lists_page_archives_unarchives_and_deletes(editor, newsletter, ada):
    page = editor.get(url("list_index")).content.decode()
    assert "Archived lists" not in page
    response = editor.post(url("list_archive", "old"), {"action": "archive"}, follow=True)
    page = response.content.decode()
    assert "List “Old announcements” archived" in page
    assert 'data-list="old" data-archived' in page
    assert old(newsletter).archived_at is not None
    assert "Old announcements" not in editor.get(url("subscriber_add")).content.decode()
    # Its people stay findable: the subscribers' filter still names it.
    assert "Old announcements (archived)" in editor.get(url("subscriber_list")).content.decode()
    assert editor.get(url("import_upload", "old")).status_code == 302

    editor.post(url("list_archive", "old"), {"action": "unarchive"})
    assert old(newsletter).archived_at is None

    refused = editor.get(url("list_delete", "old")).content.decode()
    assert "It cannot be deleted without losing records" in refused and "Archive it" in refused
    assert editor.post(url("list_delete", "old"), {"confirm": "yes"}).status_code == 409
    assert newsletter.lists.filter(slug="old").exists()

    empty = MailingListFactory(newsletter=newsletter, slug="empty", name="Empty")
    assert "Delete it" in editor.get(url("list_delete", "empty")).content.decode()
    response = editor.post(url("list_delete", "empty"), {"confirm": "yes"}, follow=True)
    assert "List “Empty” deleted." in response.content.decode()
    assert not MailingList.objects.filter(pk=empty.pk).exists()
