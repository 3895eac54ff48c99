"""Weekly and monthly digests: a reader on a digest gets the period's issues in one mail at
the period's end in their time zone, and none of them on its own; the ledger counts each
issue as delivered by that mail, once. The clock is moved by patching ``timezone.now``."""

from contextlib import contextmanager
from datetime import UTC, datetime
from unittest import mock

import pytest

from campaigns import services as campaigns
from campaigns.models import Campaign, EditionStatus, Status
from delivery import digests, lifecycle, sending
from delivery.models import Delivery, DeliveryStatus, Digest, DigestStatus, OutboxMessage
from delivery.progress import campaign_progress
from subscribers.models import Frequency, Subscriber, Subscription
from tests.factories import (
    CampaignFactory,
    MailingListFactory,
    NewsletterFactory,
    SubscriptionFactory,
)

pytestmark = pytest.mark.django_db

SITE = "https://news.example.org"


@contextmanager
def clock(moment: datetime):
    with mock.patch("django.utils.timezone.now", return_value=moment):
        yield


@pytest.fixture
def newsletter(settings):
    settings.SITE_URL = SITE
    return NewsletterFactory(slug="kernel", timezone="Europe/Paris")


@pytest.fixture
def lists(newsletter):
    return (
        MailingListFactory(newsletter=newsletter, slug="releases", name="Releases"),
        MailingListFactory(newsletter=newsletter, slug="news", name="News"),
    )


def reader(mailing_list, email, frequency=Frequency.EVERY_ISSUE, **fields) -> Subscriber:
    subscription = SubscriptionFactory(
        mailing_list=mailing_list, subscriber__email=email, frequency=frequency
    )
    if fields:
        Subscriber.objects.filter(pk=subscription.subscriber_id).update(**fields)
    return subscription.subscriber


def send(campaign: Campaign, at: datetime) -> None:
    with clock(at):
        lifecycle.campaign_start(campaign=campaign)
        while sending.send_batches(campaign_id=campaign.pk):
            pass


def issue(newsletter, lists, subject: str, **fields) -> Campaign:
    campaign = CampaignFactory(
        newsletter=newsletter,
        subject=subject,
        preheader=f"About {subject}",
        body=f"Hello {{{{ subscriber.name }}}}, **{subject}** is here with many changes.",
        public=True,
        **fields,
    )
    campaign.lists.set(lists)
    return campaign


def run_digests(at: datetime) -> None:
    with clock(at):
        digests.digests_sweep()
        digests.digests_collect()
        while digests.digest_send_next(worker="test"):
            pass


def mails_to(address: str) -> list[OutboxMessage]:
    return [m for m in OutboxMessage.objects.order_by("id") if m.recipients == [address]]


# Wednesday 4 and Thursday 5 March 2026; the week ends Monday 9 March, 00:00 in Paris,
# which is Sunday 8 March, 23:00 UTC.
WEDNESDAY = datetime(2026, 3, 4, 10, tzinfo=UTC)
THURSDAY = datetime(2026, 3, 5, 10, tzinfo=UTC)
WEEK_END_PARIS = datetime(2026, 3, 8, 23, tzinfo=UTC)


def test_a_weekly_reader_gets_one_digest_of_the_weeks_issues_and_no_single_issue(newsletter, lists):
    releases, _ = lists
    ada = reader(releases, "ada@example.org")
    bob = reader(releases, "bob@example.org", Frequency.WEEKLY_DIGEST, name="Bob")
    first = issue(newsletter, [releases], "Kernel 6.1")
    second = issue(newsletter, [releases], "Kernel 6.2")
    send(first, WEDNESDAY)
    send(second, THURSDAY)

    assert len(mails_to(ada.email)) == 2
    assert mails_to(bob.email) == []
    # Each campaign is done for its every-issue readers; bob's rows wait for his digest.
    assert set(Campaign.objects.values_list("status", flat=True)) == {Status.SENT}
    assert campaign_progress(campaign=first).in_digest == 1
    held = Delivery.objects.get(campaign=first, subscriber=bob)
    assert (held.status, held.digest_due_at) == (DeliveryStatus.IN_DIGEST, WEEK_END_PARIS)

    run_digests(datetime(2026, 3, 8, 22, 59, tzinfo=UTC))
    assert mails_to(bob.email) == []

    run_digests(WEEK_END_PARIS)
    run_digests(datetime(2026, 3, 8, 23, 5, tzinfo=UTC))
    (digest_mail,) = mails_to(bob.email)
    text, html = digest_mail.body("plain"), digest_mail.body("html")
    for campaign in (first, second):
        assert campaign.subject in text and campaign.subject in html
        assert f"About {campaign.subject}" in text
        assert f"{SITE}/n/kernel/archive/{campaign.slug}/" in text
    assert "is here with many changes" in text
    assert "{{" not in text
    message = digest_mail.parsed()
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert str(message["List-Unsubscribe"]).strip().startswith(f"<{SITE}/s/unsubscribe/")
    digest = Digest.objects.get()
    assert digest.status == DigestStatus.SENT
    rows = Delivery.objects.filter(subscriber=bob)
    assert {(row.status, row.digest_id) for row in rows} == {(DeliveryStatus.SENT, digest.pk)}
    assert campaign_progress(campaign=first).sent == 2


def test_a_period_with_no_issues_sends_nothing(newsletter, lists):
    releases, _ = lists
    reader(releases, "bob@example.org", Frequency.WEEKLY_DIGEST)
    send(issue(newsletter, [releases], "Kernel 6.1"), WEDNESDAY)
    run_digests(WEEK_END_PARIS)
    assert OutboxMessage.objects.count() == 1
    # The next week had no issue: its end sends nothing.
    run_digests(datetime(2026, 3, 15, 23, tzinfo=UTC))
    run_digests(datetime(2026, 4, 1, tzinfo=UTC))
    assert OutboxMessage.objects.count() == 1
    assert Digest.objects.count() == 1


def test_the_period_ends_in_the_readers_own_time_zone_and_a_month_at_its_first_day(
    newsletter, lists
):
    releases, _ = lists
    tokyo = reader(releases, "kenji@example.org", Frequency.WEEKLY_DIGEST, time_zone="Asia/Tokyo")
    monthly = reader(releases, "mo@example.org", Frequency.MONTHLY_DIGEST)
    send(issue(newsletter, [releases], "Kernel 6.1"), WEDNESDAY)
    due = dict(Delivery.objects.values_list("subscriber_id", "digest_due_at"))
    # Monday 9 March, 00:00 in Tokyo; 1 April, 00:00 in Paris (summer time: UTC+2).
    assert due[tokyo.pk] == datetime(2026, 3, 8, 15, tzinfo=UTC)
    assert due[monthly.pk] == datetime(2026, 3, 31, 22, tzinfo=UTC)
    run_digests(datetime(2026, 3, 8, 15, tzinfo=UTC))
    assert [m.recipients for m in OutboxMessage.objects.all()] == [[tokyo.email]]


def test_on_several_lists_the_most_frequent_choice_wins(newsletter, lists):
    releases, news = lists
    carol = reader(releases, "carol@example.org", Frequency.WEEKLY_DIGEST)
    Subscription.objects.create(
        subscriber=carol, mailing_list=news, status="confirmed", frequency=Frequency.EVERY_ISSUE
    )
    both = issue(newsletter, [releases, news], "On both lists")
    only_releases = issue(newsletter, [releases], "Only releases")
    send(both, WEDNESDAY)
    send(only_releases, THURSDAY)
    statuses = dict(Delivery.objects.values_list("campaign_id", "status"))
    assert statuses == {both.pk: DeliveryStatus.SENT, only_releases.pk: DeliveryStatus.IN_DIGEST}


def test_an_issue_the_reader_left_before_the_periods_end_is_skipped(newsletter, lists):
    releases, _ = lists
    bob = reader(releases, "bob@example.org", Frequency.WEEKLY_DIGEST)
    send(issue(newsletter, [releases], "Kernel 6.1"), WEDNESDAY)
    Subscription.objects.filter(subscriber=bob).update(status="unsubscribed")
    run_digests(WEEK_END_PARIS)
    assert OutboxMessage.objects.count() == 0
    assert Digest.objects.get().status == DigestStatus.SKIPPED
    assert Delivery.objects.get().status == DeliveryStatus.SKIPPED


def test_a_digest_in_flight_when_its_worker_died_is_uncertain_and_never_resent(
    newsletter, lists, settings
):
    releases, _ = lists
    reader(releases, "bob@example.org", Frequency.WEEKLY_DIGEST)
    send(issue(newsletter, [releases], "Kernel 6.1"), WEDNESDAY)
    with clock(WEEK_END_PARIS):
        digests.digests_collect()
        digest = digests.digest_claim(worker="doomed")
        assert digests._take_off(digest, "doomed")
    # The worker is gone; its lease runs out.
    run_digests(datetime(2026, 3, 9, 1, tzinfo=UTC))
    assert OutboxMessage.objects.count() == 0
    assert Digest.objects.get().status == DigestStatus.UNCERTAIN
    assert Delivery.objects.get().status == DeliveryStatus.UNCERTAIN


def test_a_digest_claimed_but_not_handed_over_is_sent_by_the_next_worker(newsletter, lists):
    releases, _ = lists
    reader(releases, "bob@example.org", Frequency.WEEKLY_DIGEST)
    send(issue(newsletter, [releases], "Kernel 6.1"), WEDNESDAY)
    with clock(WEEK_END_PARIS):
        digests.digests_collect()
        digests.digest_claim(worker="doomed")
    run_digests(datetime(2026, 3, 9, 1, tzinfo=UTC))
    assert OutboxMessage.objects.count() == 1
    assert Delivery.objects.get().status == DeliveryStatus.SENT


def test_cancelling_a_campaign_takes_it_out_of_digests_not_yet_made(newsletter, lists):
    releases, _ = lists
    reader(releases, "bob@example.org", Frequency.WEEKLY_DIGEST)
    reader(releases, "ada@example.org")
    campaign = issue(newsletter, [releases], "Kernel 6.1")
    with clock(WEDNESDAY):
        lifecycle.campaign_start(campaign=campaign)
        lifecycle.campaign_cancel(campaign=campaign)
    run_digests(WEEK_END_PARIS)
    assert OutboxMessage.objects.count() == 0
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.SKIPPED}


def test_a_french_reader_on_a_digest_reads_each_issue_in_the_french_edition(newsletter, lists):
    releases, _ = lists
    amelie = reader(releases, "amelie@example.org", Frequency.WEEKLY_DIGEST, language="fr")
    campaign = issue(newsletter, [releases], "Kernel 7.0 is out")
    campaigns.edition_create(
        campaign=campaign,
        language="fr",
        subject="Kernel 7.0 est sorti",
        preheader="Les nouveautés",
        body="Bonjour, **voici** les changements.",
        status=EditionStatus.READY,
    )
    send(campaign, WEDNESDAY)
    run_digests(WEEK_END_PARIS)
    (mail,) = mails_to(amelie.email)
    text = mail.body("plain")
    assert "Kernel 7.0 est sorti" in text and "Les nouveautés" in text
    assert "Bonjour, voici les changements." in text
    assert "Kernel 7.0 is out" not in text


def test_over_smtp_a_digest_is_dkim_signed_when_a_key_is_configured(
    newsletter, lists, settings, tmp_path, smtp_sink
):
    import base64
    import subprocess

    import dkim

    key = tmp_path / "dkim.pem"
    subprocess.run(
        ["openssl", "genrsa", "-traditional", "-out", str(key), "1024"],
        check=True,
        capture_output=True,
    )
    public = subprocess.run(
        ["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    settings.DKIM_DOMAIN, settings.DKIM_SELECTOR = "news.example.org", "crier"
    settings.DKIM_PRIVATE_KEY_FILE = str(key)
    releases, _ = lists
    reader(releases, "bob@example.org", Frequency.WEEKLY_DIGEST)
    send(issue(newsletter, [releases], "Kernel 6.1"), WEDNESDAY)
    run_digests(WEEK_END_PARIS)
    (received,) = smtp_sink.handler.received
    assert received.recipients == ["bob@example.org"]
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
    assert received.data.startswith(b"DKIM-Signature: v=1; a=rsa-sha256;")
    assert dkim.verify(received.data, dnsfunc=lambda name, timeout=5: record)
    assert Delivery.objects.get().status == DeliveryStatus.SENT
