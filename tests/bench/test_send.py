"""The send benchmark counts what Postfix's smtp-sink received from its ``-v`` log."""

import pytest
from django.db import connection

from bench.send import received_counts
from tests.factories import MailingListFactory, NewsletterFactory, SubscriptionFactory

LOG = """\
/usr/sbin/smtp-sink: connect (AF_INET 127.0.0.1)
/usr/sbin/smtp-sink: ehlo [127.0.0.1]
/usr/sbin/smtp-sink: mail FROM:<news@example.org>
/usr/sbin/smtp-sink: rcpt TO:<reader1@example.org>
/usr/sbin/smtp-sink: MAIL FROM:<news@example.org>
/usr/sbin/smtp-sink: RCPT TO:<reader2@example.org> NOTIFY=NEVER
/usr/sbin/smtp-sink: data
/usr/sbin/smtp-sink: .
/usr/sbin/smtp-sink: DATA
/usr/sbin/smtp-sink: .
/usr/sbin/smtp-sink: mail FROM:<news@example.org>
/usr/sbin/smtp-sink: rcpt TO:<reader1@example.org>
/usr/sbin/smtp-sink: data
/usr/sbin/smtp-sink: .
/usr/sbin/smtp-sink: mail FROM:<news@example.org>
/usr/sbin/smtp-sink: rcpt TO:<reader3@example.org>
/usr/sbin/smtp-sink: QUIT
/usr/sbin/smtp-sink: disconnect
"""


def test_each_completed_transaction_counts_its_recipient_in_either_case():
    counts = received_counts(LOG)
    assert counts == {"reader1@example.org": 2, "reader2@example.org": 1}


def test_a_transaction_cut_before_its_end_of_data_counts_nobody():
    assert received_counts(LOG)["reader3@example.org"] == 0
    assert received_counts("") == {}


@pytest.mark.django_db
def test_the_enqueue_anchor_is_the_same_rows_into_an_unindexed_table(monkeypatch):
    from bench import send
    from delivery.models import Delivery

    mailing_list = MailingListFactory(newsletter=NewsletterFactory(slug="bench"))
    SubscriptionFactory.create_batch(3, mailing_list=mailing_list)
    SubscriptionFactory(mailing_list=mailing_list, status="unsubscribed")
    monkeypatch.setattr(send, "ENQUEUE_RECIPIENTS", 3)  # both statements assert it

    seconds, bare_seconds = send.enqueue_seconds(mailing_list.pk)

    assert seconds > 0 and bare_seconds > 0
    assert not Delivery.objects.exists()
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [send.BARE_TABLE])
        assert cursor.fetchone() == (None,)
