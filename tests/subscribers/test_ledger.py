import threading

import pytest
from django.db import connection

from subscribers import ledger, services
from subscribers.models import AppendOnlyError, ConsentEvent, ConsentSource, Subscriber
from subscribers.tokens import Claim
from tests.factories import MailingListFactory

WORDING = "I agree."


def subscribed_and_confirmed():
    news = MailingListFactory()
    services.subscribe(
        newsletter=news.newsletter,
        email="ada@example.org",
        lists=[news],
        source=ConsentSource.FORM,
        wording=WORDING,
    )
    subscriber = Subscriber.objects.get()
    claim = Claim(subscriber.pk, news.newsletter_id)
    services.confirm(claim=claim)
    return subscriber, claim


@pytest.mark.django_db
def test_each_event_links_to_the_previous_one():
    subscriber, _ = subscribed_and_confirmed()
    first, second = subscriber.consent_events.order_by("id")
    assert first.previous_hash == ""
    assert second.previous_hash == first.hash
    assert ledger.verify_chain(subscriber) == ledger.ChainReport(True, 2)


@pytest.mark.django_db
def test_an_edited_wording_breaks_the_chain_at_that_event():
    subscriber, _ = subscribed_and_confirmed()
    first = subscriber.consent_events.order_by("id").first()
    ConsentEvent.objects.filter(pk=first.pk).update(wording="I agree to everything.")
    report = ledger.verify_chain(subscriber)
    assert not report.valid
    assert report.problem == f"event {first.pk} was altered"


@pytest.mark.django_db
def test_a_deleted_event_breaks_the_chain():
    subscriber, _ = subscribed_and_confirmed()
    first = subscriber.consent_events.order_by("id").first()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM subscribers_consentevent WHERE id = %s", [first.pk])
    report = ledger.verify_chain(subscriber)
    assert not report.valid
    assert "does not follow its predecessor" in report.problem


@pytest.mark.django_db
def test_a_replaced_address_is_detected():
    subscriber, _ = subscribed_and_confirmed()
    ConsentEvent.objects.filter(subscriber=subscriber).update(email="mallory@example.org")
    assert "replaced address" in ledger.verify_chain(subscriber).problem


@pytest.mark.django_db
def test_the_ledger_refuses_updates_and_deletes_through_the_orm():
    subscriber, _ = subscribed_and_confirmed()
    event = subscriber.consent_events.first()
    event.wording = "changed"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()


@pytest.mark.django_db(transaction=True)
def test_concurrent_confirm_and_unsubscribe_clicks_keep_state_and_chain_sound():
    """Two real threads, two PostgreSQL connections, the same links clicked at once."""
    subscriber, claim = subscribed_and_confirmed()
    services.unsubscribe(claim=claim, source=ConsentSource.UNSUBSCRIBE_PAGE)
    services.subscribe(
        newsletter=subscriber.subscriptions.get().mailing_list.newsletter,
        email="ada@example.org",
        lists=[subscriber.subscriptions.get().mailing_list],
        source=ConsentSource.FORM,
        wording=WORDING,
    )
    barrier = threading.Barrier(4)
    errors = []

    def click(action):
        try:
            barrier.wait()
            action()
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    confirm = lambda: services.confirm(claim=claim)  # noqa: E731
    threads = [threading.Thread(target=click, args=(confirm,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    actions = list(subscriber.consent_events.order_by("id").values_list("action", flat=True))
    assert actions == ["subscribed", "confirmed", "unsubscribed", "subscribed", "confirmed"]
    assert ledger.verify_chain(subscriber).valid

    unsubscribe = lambda: services.unsubscribe(  # noqa: E731
        claim=claim, source=ConsentSource.ONE_CLICK
    )
    barrier.reset()
    threads = [threading.Thread(target=click, args=(unsubscribe,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert subscriber.consent_events.filter(action="unsubscribed").count() == 2
    assert ledger.verify_chain(subscriber).valid
