import time
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy

import pytest
from django.test import Client
from django.utils import timezone

from campaigns.models import Campaign, Status
from campaigns.services import campaign_render
from delivery import ledger, lifecycle, sending, sweeper, transports
from delivery.messages import CampaignMessages
from delivery.models import Delivery, DeliveryStatus, OutboxMessage
from delivery.progress import campaign_progress
from delivery.sending import pipeline
from delivery.sending.pace import Pace
from delivery.sending.record import Tally
from delivery.throttle import Throttle
from subscribers import services as subscribers
from subscribers import suppressions
from subscribers.models import ConsentSource, Subscriber, Suppression, SuppressionReason
from subscribers.tokens import Claim
from tests.factories import CampaignFactory, MailingListFactory, NewsletterFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def newsletter():
    return NewsletterFactory(slug="kernel", name="Kernel News")


@pytest.fixture
def releases(newsletter):
    return MailingListFactory(newsletter=newsletter, slug="releases", name="Releases")


def confirmed(newsletter, lists, email, name=""):
    subscribers.subscribe(
        newsletter=newsletter,
        email=email,
        name=name,
        lists=lists,
        source=ConsentSource.DASHBOARD,
        wording="I agree.",
        attestation="test",
        actor="t",
    )
    return Subscriber.objects.get(email=email)


@pytest.fixture
def campaign(newsletter, releases):
    campaign = CampaignFactory(newsletter=newsletter, subject="Kernel 7.0 is out")
    campaign.lists.set([releases])
    return campaign


def send_all(campaign):
    while sending.send_batches(campaign_id=campaign.pk):
        pass


def test_the_audience_is_confirmed_active_unpaused_unsuppressed_and_counted_once(
    newsletter, releases, campaign
):
    security = MailingListFactory(newsletter=newsletter, slug="security")
    campaign.lists.add(security)
    confirmed(newsletter, [releases, security], "both@example.org")
    confirmed(newsletter, [releases], "one@example.org")
    subscribers.subscribe(
        newsletter=newsletter,
        email="pending@example.org",
        lists=[releases],
        source=ConsentSource.FORM,
        wording="I agree.",
    )
    paused = confirmed(newsletter, [releases], "paused@example.org")
    Subscriber.objects.filter(pk=paused.pk).update(paused_until=timezone.now() + timedelta(days=9))
    confirmed(newsletter, [releases], "bounced@example.org")
    suppressions.suppress(
        email="bounced@example.org", reason=SuppressionReason.HARD_BOUNCE, newsletter=None
    )
    confirmed(newsletter, [releases], "left@example.org")
    suppressions.suppress(
        email="left@example.org", reason=SuppressionReason.MANUAL, newsletter=newsletter
    )
    # Another newsletter's suppression is that newsletter's business.
    suppressions.suppress(
        email="one@example.org", reason=SuppressionReason.MANUAL, newsletter=NewsletterFactory()
    )
    other = MailingListFactory()
    subscribers.subscribe(
        newsletter=other.newsletter,
        email="elsewhere@example.org",
        lists=[other],
        source=ConsentSource.DASHBOARD,
        wording="x",
        attestation="test",
    )

    assert lifecycle.campaign_start(campaign=campaign) == 2
    emails = set(Delivery.objects.values_list("subscriber__email", flat=True))
    assert emails == {"both@example.org", "one@example.org"}
    campaign.refresh_from_db()
    assert campaign.status == Status.SENDING


def test_start_refuses_a_campaign_without_lists_or_already_sent(newsletter):
    campaign = CampaignFactory(newsletter=newsletter)
    with pytest.raises(lifecycle.CampaignStateError, match="Choose at least one list"):
        lifecycle.campaign_start(campaign=campaign)
    sent = CampaignFactory(newsletter=newsletter, status=Status.SENT)
    with pytest.raises(lifecycle.CampaignStateError, match="It is sent"):
        lifecycle.campaign_start(campaign=sent)
    assert not Delivery.objects.exists()


def test_start_refuses_a_campaign_that_does_not_render(newsletter, releases):
    campaign = CampaignFactory(newsletter=newsletter, body="Hello {{ subscriber.shoe_size }}")
    campaign.lists.set([releases])
    with pytest.raises(lifecycle.CampaignStateError, match="shoe_size"):
        lifecycle.campaign_start(campaign=campaign)


def test_every_recipient_gets_one_personal_message_with_bulk_sender_headers(
    newsletter, releases, campaign, settings
):
    settings.SITE_URL = "https://news.example.org"
    ada = confirmed(newsletter, [releases], "ada@example.org", name="Ada")
    confirmed(newsletter, [releases], "grace@example.org", name="Grace")
    lifecycle.campaign_start(campaign=campaign)
    send_all(campaign)

    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.SENT}
    campaign.refresh_from_db()
    assert campaign.status == Status.SENT and campaign.sent_at is not None
    stored = OutboxMessage.objects.get(recipients=["ada@example.org"])
    parsed = stored.parsed()
    delivery = Delivery.objects.get(subscriber=ada)
    assert parsed["Subject"] == "Kernel 7.0 is out"
    assert parsed["From"] == newsletter.sender
    assert parsed["Message-ID"] == f"<{delivery.pk}.{campaign.pk}.crier@news.example.org>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed["List-Id"] == "Kernel News <kernel.news.example.org>"
    assert "Hello Ada" in stored.body("plain")
    assert "Hello Ada" in stored.body("html")

    target = parsed["List-Unsubscribe"].strip().strip("<>")
    one_click = target.removeprefix("https://news.example.org")
    response = Client().post(
        one_click, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    assert ada.subscriptions.get().status == "unsubscribed"


def test_someone_who_leaves_before_their_turn_is_skipped(newsletter, releases, campaign):
    ada = confirmed(newsletter, [releases], "ada@example.org")
    confirmed(newsletter, [releases], "grace@example.org")
    lifecycle.campaign_start(campaign=campaign)
    subscribers.unsubscribe(claim=Claim(ada.pk, newsletter.pk), source=ConsentSource.ONE_CLICK)
    send_all(campaign)
    statuses = dict(Delivery.objects.values_list("subscriber__email", "status"))
    assert statuses == {"ada@example.org": "skipped", "grace@example.org": "sent"}
    assert OutboxMessage.objects.filter(recipients=["ada@example.org"]).count() == 0


def test_pause_stops_claims_and_resume_sends_only_the_rest(
    newsletter, releases, campaign, settings
):
    settings.SEND_BATCH_SIZE = 2
    for n in range(5):
        confirmed(newsletter, [releases], f"p{n}@example.org")
    lifecycle.campaign_start(campaign=campaign)
    rows = ledger.claim(campaign_id=campaign.pk, size=2, worker="w1")
    pipeline.send_batch(
        CampaignMessages(campaign, campaign_render(campaign=campaign)),
        rows,
        "w1",
        Pace(Throttle(), transports.transport_for(newsletter.pk)),
        Tally(),
    )
    lifecycle.campaign_pause(campaign=campaign)
    assert sending.send_batches(campaign_id=campaign.pk) is False
    assert OutboxMessage.objects.count() == 2

    lifecycle.campaign_resume(campaign=campaign)
    send_all(campaign)
    assert OutboxMessage.objects.count() == 5
    assert sorted(r for m in OutboxMessage.objects.all() for r in m.recipients) == [
        f"p{n}@example.org" for n in range(5)
    ]


def test_smtp_refusals_fail_permanently_or_retry_later(newsletter, releases, campaign, smtp_sink):
    smtp_sink.handler.refuse = {
        "gone@example.org": "550 5.1.1 No such user",
        "busy@example.org": "451 4.7.1 Try again later",
    }
    for email in ("ok@example.org", "gone@example.org", "busy@example.org"):
        confirmed(newsletter, [releases], email)
    lifecycle.campaign_start(campaign=campaign)
    send_all(campaign)

    rows = {d.subscriber.email: d for d in Delivery.objects.select_related("subscriber")}
    assert rows["ok@example.org"].status == "sent"
    assert rows["gone@example.org"].status == "failed"
    assert rows["gone@example.org"].last_error.startswith("550")
    # Refused when handed over: nothing was sent, so only this newsletter stops.
    assert suppressions.reasons("gone@example.org", newsletter) == {"hard_bounce"}
    assert Suppression.objects.get().newsletter == newsletter
    assert rows["busy@example.org"].status == "queued"
    assert rows["busy@example.org"].next_attempt_at > timezone.now()
    assert smtp_sink.handler.recipients() == ["ok@example.org"]


def test_a_transient_failure_gives_up_after_the_last_attempt(
    newsletter, releases, campaign, smtp_sink, settings
):
    settings.SEND_MAX_ATTEMPTS = 2
    smtp_sink.handler.refuse = {"busy@example.org": "451 4.7.1 Try again later"}
    confirmed(newsletter, [releases], "busy@example.org")
    lifecycle.campaign_start(campaign=campaign)
    for _ in range(2):
        Delivery.objects.update(next_attempt_at=None)
        send_all(campaign)
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("failed", 2)


def test_retry_failed_sends_only_the_failed_rows(newsletter, releases, campaign, smtp_sink):
    smtp_sink.handler.refuse = {"later@example.org": "554 5.7.1 Rejected for now"}
    confirmed(newsletter, [releases], "ok@example.org")
    confirmed(newsletter, [releases], "later@example.org")
    lifecycle.campaign_start(campaign=campaign)
    send_all(campaign)
    campaign.refresh_from_db()
    assert campaign.status == Status.SENT
    smtp_sink.handler.refuse = {}
    # An admin lifts the hard bounce: the suppression and the subscriber's bounced status.
    Suppression.objects.all().delete()
    Subscriber.objects.update(status="active")

    assert lifecycle.campaign_retry_failed(campaign=campaign) == 1
    send_all(campaign)
    assert sorted(smtp_sink.handler.recipients()) == ["later@example.org", "ok@example.org"]


def test_sweeper_requeues_unsent_claims_and_marks_in_flight_rows_uncertain(
    newsletter, releases, campaign
):
    for n in range(3):
        confirmed(newsletter, [releases], f"s{n}@example.org")
    lifecycle.campaign_start(campaign=campaign)
    rows = ledger.claim(campaign_id=campaign.pk, size=3, worker="dead-worker")
    assert ledger.Flight("dead-worker").take_off(rows[0][0])
    Delivery.objects.update(lease_until=timezone.now() - timedelta(seconds=1))

    report = sweeper.sweep()
    assert (report.requeued, report.uncertain) == (2, 1)
    assert Delivery.objects.get(pk=rows[0][0]).status == DeliveryStatus.UNCERTAIN
    send_all(campaign)
    assert OutboxMessage.objects.count() == 2
    campaign.refresh_from_db()
    assert campaign.status == Status.SENT


def test_a_stolen_claim_is_not_sent_by_its_old_worker(newsletter, releases, campaign):
    confirmed(newsletter, [releases], "ada@example.org")
    lifecycle.campaign_start(campaign=campaign)
    rows = ledger.claim(campaign_id=campaign.pk, size=1, worker="slow")
    Delivery.objects.update(lease_until=timezone.now() - timedelta(seconds=1))
    sweeper.sweep()
    assert ledger.claim(campaign_id=campaign.pk, size=1, worker="fresh") == rows
    assert not ledger.Flight("slow").take_off(rows[0][0])
    assert ledger.Flight("fresh").take_off(rows[0][0])


def test_scheduled_campaigns_start_when_due(newsletter, releases, campaign):
    confirmed(newsletter, [releases], "ada@example.org")
    with pytest.raises(lifecycle.CampaignStateError, match="future"):
        lifecycle.campaign_schedule(
            campaign=campaign, send_at=timezone.now() - timedelta(minutes=1)
        )
    lifecycle.campaign_schedule(campaign=campaign, send_at=timezone.now() + timedelta(hours=1))
    assert lifecycle.start_due_campaigns() == []
    campaign.refresh_from_db()
    assert campaign.status == Status.SCHEDULED
    type(campaign).objects.filter(pk=campaign.pk).update(send_at=timezone.now())
    assert lifecycle.start_due_campaigns() == [campaign.pk]
    assert Delivery.objects.count() == 1


def test_cancel_skips_what_was_not_sent(newsletter, releases, campaign):
    confirmed(newsletter, [releases], "ada@example.org")
    lifecycle.campaign_start(campaign=campaign)
    lifecycle.campaign_cancel(campaign=campaign)
    assert sending.send_batches(campaign_id=campaign.pk) is False
    assert Delivery.objects.get().status == DeliveryStatus.SKIPPED


def test_too_many_failures_pause_the_campaign_and_tell_its_owners(
    newsletter, releases, campaign, smtp_sink, settings
):
    from tests.factories import MembershipFactory

    MembershipFactory(newsletter=newsletter, role="owner", user__email="owner@example.org")
    settings.SEND_PAUSE_ERROR_RATE = 0.2
    settings.SEND_BATCH_SIZE = 10
    refuse = {}
    for n in range(60):
        email = f"r{n}@example.org"
        confirmed(newsletter, [releases], email)
        if n % 2:
            refuse[email] = "550 5.1.1 No such user"
    smtp_sink.handler.refuse = refuse
    lifecycle.campaign_start(campaign=campaign)
    send_all(campaign)
    campaign.refresh_from_db()
    assert campaign.status == Status.PAUSED
    assert Delivery.objects.filter(status="queued").exists()
    notice = [m for m in smtp_sink.handler.received if m.recipients == ["owner@example.org"]]
    assert len(notice) == 1
    assert (
        "too many messages failed"
        in message_from_bytes(notice[0].data, policy=policy.default)["Subject"]
    )


def test_progress_counts_each_state(newsletter, releases, campaign):
    for n in range(3):
        confirmed(newsletter, [releases], f"g{n}@example.org")
    lifecycle.campaign_start(campaign=campaign)
    ledger.claim(campaign_id=campaign.pk, size=1, worker="w")
    progress = campaign_progress(campaign=campaign)
    assert (progress.total, progress.queued, progress.sending, progress.sent) == (3, 2, 1, 0)


def test_the_rate_stays_steady_while_a_campaign_goes_out_in_bursts(
    newsletter, releases, campaign, monkeypatch
):
    """A batch lands every few seconds: the rate a viewer polling every 2 s reads must not
    flip between a burst's rate and zero (it did: 3.1, 0.0, 3.1, 0.0…)."""
    for n in range(50):
        confirmed(newsletter, [releases], f"r{n}@example.org")
    clock = [1_000_000.0]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    monkeypatch.setattr(timezone, "now", lambda: datetime.fromtimestamp(clock[0], UTC))
    lifecycle.campaign_start(campaign=campaign)
    rows = list(
        Delivery.objects.filter(campaign=campaign).order_by("id").values_list("pk", flat=True)
    )
    rates = []
    for second in range(2, 62, 2):
        clock[0] = 1_000_000.0 + second
        if second % 12 == 0:  # a batch of 10 every 12 seconds: 0.83 per second
            batch = second // 12
            sent = rows[(batch - 1) * 10 : batch * 10]
            Delivery.objects.filter(pk__in=sent).update(status=DeliveryStatus.SENT)
        rates.append(campaign_progress(campaign=campaign).per_second)
    settled = rates[5:]  # after the first ten seconds
    assert 0.0 not in settled, rates
    assert min(settled) >= 0.4 and max(settled) <= 1.2, rates


def test_the_rate_of_a_finished_campaign_is_its_average_and_nothing_is_left_to_wait_for(
    newsletter, releases, campaign
):
    for n in range(4):
        confirmed(newsletter, [releases], f"f{n}@example.org")
    lifecycle.campaign_start(campaign=campaign)
    started = Delivery.objects.filter(campaign=campaign).first().created_at
    Delivery.objects.filter(campaign=campaign).update(status=DeliveryStatus.SENT)
    Campaign.objects.filter(pk=campaign.pk).update(
        status=Status.SENT, sent_at=started + timedelta(seconds=8)
    )
    progress = campaign_progress(campaign=campaign)
    assert (progress.sent, progress.per_second, progress.eta_seconds) == (4, 0.5, None)
    assert progress.started_at == started


def test_each_message_links_to_the_unsubscribe_page_with_the_list_it_came_through(
    newsletter, releases, campaign
):
    confirmed(newsletter, [releases], "ada@example.org")
    lifecycle.campaign_start(campaign=campaign)
    send_all(campaign)
    html = OutboxMessage.objects.get().body("html")
    assert f"/?c={campaign.pk}&amp;list={releases.pk}" in html


def test_progress_of_a_finished_campaign_counts_only_unsent_rows(newsletter, releases, campaign):
    for n in range(3):
        confirmed(newsletter, [releases], f"f{n}@example.org")
    lifecycle.campaign_start(campaign=campaign)
    Delivery.objects.filter(campaign=campaign).update(status=DeliveryStatus.SENT)
    Delivery.objects.filter(pk=Delivery.objects.filter(campaign=campaign).first().pk).update(
        status=DeliveryStatus.FAILED
    )
    progress = campaign_progress(campaign=campaign)
    assert (progress.total, progress.sent, progress.failed) == (3, 2, 1)
