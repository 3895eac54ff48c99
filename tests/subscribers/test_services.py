import pytest
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import connection

from delivery.models import OutboxMessage
from subscribers import ledger, personal_data, services, suppressions
from subscribers.ledger import Evidence
from subscribers.models import (
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    OptIn,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
    Suppression,
    SuppressionReason,
)
from subscribers.tokens import Claim
from tests.factories import MailingListFactory, NewsletterFactory, SubscriberFactory

pytestmark = pytest.mark.django_db
WORDING = "I agree to receive Project News."


@pytest.fixture
def newsletter():
    return NewsletterFactory(consent_text=WORDING)


@pytest.fixture
def news(newsletter):
    return MailingListFactory(newsletter=newsletter, slug="news", name="News")


def subscribe(newsletter, lists, email="Ada@Example.ORG", **kwargs):
    return services.subscribe(
        newsletter=newsletter,
        email=email,
        lists=lists,
        source=kwargs.pop("source", ConsentSource.FORM),
        wording=WORDING,
        **kwargs,
    )


def claim_for(subscriber, newsletter):
    return Claim(subscriber.pk, newsletter.pk)


def actions(subscriber):
    return list(subscriber.consent_events.values_list("action", flat=True))


def test_addresses_are_trimmed_and_their_domain_lower_cased():
    assert services.normalize_email("  Ada.Lovelace@Example.ORG ") == "Ada.Lovelace@example.org"


@pytest.mark.parametrize(
    "bad", ["", "ada", "ada@", "@example.org", "ada@example..org", "a b@x.org"]
)
def test_invalid_addresses_are_refused_and_nothing_is_stored(newsletter, news, bad):
    with pytest.raises(ValidationError):
        subscribe(newsletter, [news], email=bad)
    assert not Subscriber.objects.exists()
    assert not ConsentEvent.objects.exists()


def test_subscribe_starts_double_opt_in_and_records_the_wording(
    newsletter, news, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        outcome = subscribe(newsletter, [news], name="Ada")
    subscriber = Subscriber.objects.get()
    assert subscriber.email == "Ada@example.org"
    assert subscriber.name == "Ada"
    assert Subscription.objects.get().status == SubscriptionStatus.PENDING
    event = subscriber.consent_events.get()
    assert (event.action, event.source, event.wording) == ("subscribed", "form", WORDING)
    assert event.mailing_list == news
    assert outcome.confirmation_queued
    assert len(callbacks) == 1


def test_subscribing_twice_duplicates_nothing(newsletter, news):
    subscribe(newsletter, [news])
    subscribe(newsletter, [news], email="ada@example.org")
    assert Subscriber.objects.count() == 1
    assert Subscription.objects.count() == 1
    assert ConsentEvent.objects.count() == 1


def test_an_address_in_other_case_is_the_same_subscriber(newsletter, news):
    subscribe(newsletter, [news], email="ada@example.org")
    subscribe(newsletter, [news], email="ADA@example.org")
    assert Subscriber.objects.get().email == "ada@example.org"


def test_single_opt_in_lists_confirm_at_once(newsletter):
    single = MailingListFactory(newsletter=newsletter, opt_in=OptIn.SINGLE)
    outcome = subscribe(newsletter, [single])
    assert outcome.confirmed == [single] and not outcome.confirmation_queued
    assert Subscription.objects.get().status == SubscriptionStatus.CONFIRMED


def test_a_list_of_another_newsletter_is_refused(newsletter):
    with pytest.raises(ValidationError):
        subscribe(newsletter, [MailingListFactory()])
    assert not Subscription.objects.exists()


def test_confirm_confirms_pending_lists_once(newsletter, news):
    subscribe(newsletter, [news])
    subscriber = Subscriber.objects.get()
    first = services.confirm(claim=claim_for(subscriber, newsletter))
    again = services.confirm(claim=claim_for(subscriber, newsletter))
    assert first.confirmed == [news]
    assert again.confirmed == []
    assert Subscription.objects.get().status == SubscriptionStatus.CONFIRMED
    assert actions(subscriber) == ["subscribed", "confirmed"]
    assert ledger.verify_chain(subscriber).valid


def test_no_more_than_three_confirmation_mails_per_address_and_hour(newsletter, redis_client):
    lists = [MailingListFactory(newsletter=newsletter) for _ in range(5)]
    queued = []
    for mailing_list in lists:
        Subscription.objects.filter(mailing_list__in=lists).delete()
        queued.append(subscribe(newsletter, [mailing_list]).confirmation_queued)
    assert queued == [True, True, True, False, False]


@pytest.mark.parametrize(
    "reason", [SuppressionReason.COMPLAINT, SuppressionReason.HARD_BOUNCE, SuppressionReason.ERASED]
)
def test_addresses_suppressed_for_cause_are_silently_ignored(newsletter, news, reason):
    suppressions.suppress(email="ada@example.org", reason=reason, newsletter=None)
    outcome = subscribe(newsletter, [news], email="ada@example.org")
    assert outcome.subscriber is None
    assert not Subscriber.objects.exists()


def test_another_newsletters_suppression_does_not_stop_this_one(newsletter, news):
    suppressions.suppress(
        email="ada@example.org", reason=SuppressionReason.MANUAL, newsletter=NewsletterFactory()
    )
    outcome = subscribe(newsletter, [news], email="ada@example.org")
    assert outcome.subscriber is not None and outcome.pending == [news]
    suppressions.suppress(
        email="grace@example.org", reason=SuppressionReason.MANUAL, newsletter=newsletter
    )
    assert subscribe(newsletter, [news], email="grace@example.org").subscriber is None


def test_unsubscribe_is_idempotent_and_recorded(newsletter, news):
    subscribe(newsletter, [news])
    subscriber = Subscriber.objects.get()
    claim = claim_for(subscriber, newsletter)
    services.confirm(claim=claim)
    assert services.unsubscribe(claim=claim, source=ConsentSource.ONE_CLICK) == 1
    assert services.unsubscribe(claim=claim, source=ConsentSource.ONE_CLICK) == 0
    assert Subscription.objects.get().status == SubscriptionStatus.UNSUBSCRIBED
    assert actions(subscriber) == ["subscribed", "confirmed", "unsubscribed"]
    assert subscriber.consent_events.last().source == "one_click"


def test_unsubscribe_everywhere_suppresses_until_the_person_confirms_again(newsletter, news):
    other = MailingListFactory()
    subscribe(newsletter, [news])
    subscriber = Subscriber.objects.get()
    elsewhere = services.subscribe(
        newsletter=other.newsletter,
        email=subscriber.email,
        lists=[other],
        source=ConsentSource.FORM,
        wording=WORDING,
    ).subscriber
    assert elsewhere.pk != subscriber.pk
    assert (
        personal_data.unsubscribe_everywhere(
            claim=claim_for(subscriber, newsletter), source=ConsentSource.SELF_SERVICE
        )
        == 2
    )
    for contact in (subscriber, elsewhere):
        contact.refresh_from_db()
        assert contact.status == SubscriberStatus.UNSUBSCRIBED
    assert Suppression.objects.get().instance_wide
    assert suppressions.reasons(subscriber.email, newsletter) == {"unsubscribed"}

    # Coming back to one newsletter restarts that one only.
    subscribe(newsletter, [news])
    services.confirm(claim=claim_for(subscriber, newsletter))
    subscriber.refresh_from_db()
    assert subscriber.status == SubscriberStatus.ACTIVE
    assert suppressions.reasons(subscriber.email, newsletter) == set()
    assert suppressions.reasons(subscriber.email, other.newsletter) == {"unsubscribed"}
    assert not Suppression.objects.filter(newsletter__isnull=True).exists()


def test_leaving_a_newsletter_stops_that_newsletter_only(newsletter, news):
    other = MailingListFactory()
    contact = subscribe(newsletter, [news], source=ConsentSource.API, attestation="yes").subscriber
    subscribe(other.newsletter, [other], source=ConsentSource.API, attestation="yes")
    assert (
        services.leave_newsletter(
            claim=claim_for(contact, newsletter), source=ConsentSource.PREFERENCE_CENTER
        )
        == 1
    )
    assert suppressions.reasons(contact.email, newsletter) == {"unsubscribed"}
    assert suppressions.reasons(contact.email, other.newsletter) == set()
    assert Subscription.objects.get(mailing_list=other).status == SubscriptionStatus.CONFIRMED


def test_an_unsubscribe_never_softens_a_stronger_suppression(newsletter):
    for scope in (None, newsletter):
        for reason in (SuppressionReason.COMPLAINT, SuppressionReason.UNSUBSCRIBED):
            suppressions.suppress(email="ada@example.org", reason=reason, newsletter=scope)
    assert set(Suppression.objects.values_list("newsletter", "reason")) == {
        (None, "complaint"),
        (newsletter.pk, "complaint"),
    }


def test_preferences_change_lists_and_profile_and_say_so_in_the_ledger(newsletter, news):
    releases = MailingListFactory(newsletter=newsletter, slug="releases")
    MailingListFactory(newsletter=newsletter, public=False, slug="hidden")
    subscribe(newsletter, [news])
    subscriber = Subscriber.objects.get()
    claim = claim_for(subscriber, newsletter)
    services.confirm(claim=claim)

    changed = services.update_preferences(
        claim=claim,
        preferences=services.Preferences(
            lists=frozenset({releases.pk}),
            name="Ada L.",
            language="fr",
            tracking="aggregate",
            frequencies={releases.pk: "monthly_digest"},
        ),
    )
    assert changed == ["+releases", "-news", "name", "language", "tracking_opt_out"]
    assert Subscription.objects.get(mailing_list=releases).frequency == "monthly_digest"
    statuses = dict(Subscription.objects.values_list("mailing_list__slug", "status"))
    assert statuses == {"news": "unsubscribed", "releases": "confirmed"}
    last = subscriber.consent_events.last()
    assert last.action == ConsentAction.PREFERENCES_CHANGED
    assert last.details["changed"] == ["name", "language", "tracking_opt_out"]
    assert "Ada L." not in str(last.details)
    assert ledger.verify_chain(subscriber).valid


def test_evidence_is_recorded_only_when_the_newsletter_asks(news):
    newsletter = news.newsletter
    evidence = Evidence(ip_address="203.0.113.7", user_agent="Firefox")
    subscribe(newsletter, [news], email="one@example.org", evidence=evidence)
    assert ConsentEvent.objects.get().ip_address is None
    assert ConsentEvent.objects.get().user_agent == ""

    newsletter.record_consent_ip = True
    newsletter.save()
    subscribe(newsletter, [news], email="two@example.org", evidence=evidence)
    event = ConsentEvent.objects.get(email="two@example.org")
    assert (event.ip_address, event.user_agent) == ("203.0.113.7", "Firefox")
    assert ledger.verify_chain(event.subscriber).valid


def test_export_holds_everything_about_the_person(newsletter, news):
    subscribe(newsletter, [news], name="Ada")
    subscriber = Subscriber.objects.get()
    services.confirm(claim=claim_for(subscriber, newsletter))
    data = personal_data.export_person(subscriber)
    assert data["email"] == "Ada@example.org"
    [here] = data["newsletters"]
    assert here["newsletter"] == newsletter.name and here["name"] == "Ada"
    assert here["subscriptions"][0]["list"] == "News"
    assert here["subscriptions"][0]["status"] == "confirmed"
    assert [event["action"] for event in here["consent_history"]] == ["subscribed", "confirmed"]
    assert here["consent_history"][0]["wording"] == WORDING


def test_erasure_leaves_no_personal_data_but_the_suppression_digest(
    newsletter, news, django_capture_on_commit_callbacks
):
    newsletter.record_consent_ip = True
    newsletter.save()
    subscribe(newsletter, [news], name="Ada", evidence=Evidence("203.0.113.7", "Firefox"))
    subscriber = Subscriber.objects.get()
    claim = claim_for(subscriber, newsletter)
    services.confirm(claim=claim)
    send_mail("Hello", "Body", "news@example.org", ["Ada@example.org"])
    send_mail("Other", "Body", "news@example.org", ["grace@example.org"])

    with django_capture_on_commit_callbacks(execute=True):
        personal_data.erase_everywhere(claim=claim, source=ConsentSource.SELF_SERVICE)

    subscriber.refresh_from_db()
    assert (subscriber.email, subscriber.name, subscriber.attributes) == (None, "", {})
    assert subscriber.status == SubscriberStatus.ERASED
    assert not subscriber.subscriptions.exists()
    for event in subscriber.consent_events.all():
        assert (event.email, event.ip_address, event.user_agent) == ("", None, "")
    assert actions(subscriber)[-1] == "erased"
    assert ledger.verify_chain(subscriber).valid
    assert Suppression.objects.get().reason == "erased"
    assert Suppression.objects.get().instance_wide
    assert list(OutboxMessage.objects.values_list("subject", flat=True)) == ["Other"]
    everything = str(personal_data.export_person(subscriber)) + str(
        list(ConsentEvent.objects.values())
    )
    assert "Ada@example.org".lower() not in everything.lower()
    assert "203.0.113.7" not in everything

    again = subscribe(newsletter, [news])
    assert again.subscriber is None


def test_an_attested_subscription_is_confirmed_at_once_and_says_who_attested(newsletter, news):
    outcome = subscribe(
        newsletter,
        [news],
        source=ConsentSource.DASHBOARD,
        attestation="Signed up on paper at FOSDEM 2026",
        actor="maintainer",
    )
    assert outcome.confirmed == [news] and not outcome.confirmation_queued
    assert Subscription.objects.get().status == SubscriptionStatus.CONFIRMED
    event = ConsentEvent.objects.get()
    assert event.details == {
        "opt_in": "attested",
        "attestation": "Signed up on paper at FOSDEM 2026",
        "actor": "maintainer",
    }


def test_an_attestation_never_overrides_the_persons_own_unsubscribe(newsletter, news):
    subscribe(newsletter, [news])
    subscriber = Subscriber.objects.get()
    claim = claim_for(subscriber, newsletter)
    services.confirm(claim=claim)
    services.unsubscribe(claim=claim, source=ConsentSource.UNSUBSCRIBE_PAGE)
    subscribe(newsletter, [news], source=ConsentSource.API, attestation="CRM says yes")
    assert Subscription.objects.get().status == SubscriptionStatus.UNSUBSCRIBED

    services.leave_newsletter(claim=claim, source=ConsentSource.PREFERENCE_CENTER)
    other = MailingListFactory(newsletter=newsletter)
    outcome = subscribe(newsletter, [other], source=ConsentSource.API, attestation="CRM says yes")
    assert outcome.subscriber is None


def test_an_address_is_found_whatever_its_case_through_the_unique_index(newsletter):
    ada = SubscriberFactory(email="ada@example.org", newsletter=newsletter)
    SubscriberFactory(email="ada@example.org")  # another newsletter's contact
    contacts = Subscriber.objects.filter(newsletter=newsletter)
    assert contacts.with_address("  ADA@Example.ORG ").get() == ada
    assert Subscriber.objects.with_address("ada@example.org").count() == 2
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plans = [
            contacts.with_address("ada@example.org").explain(),
            Subscriber.objects.with_address("ada@example.org").explain(),  # the person's own
        ]
    assert all("one_contact_per_address" in plan for plan in plans)
