"""Worker heartbeats: the rows of a silent worker come back before their lease ends,
and a worker declared dead that was only paused can neither send nor record them."""

import smtplib
from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from campaigns.models import Status
from delivery import heartbeats, ledger, lifecycle, sending, sweeper, tasks
from delivery.models import Delivery, DeliveryStatus, OutboxMessage, WorkerHeartbeat
from subscribers import services as subscribers
from subscribers.models import ConsentSource
from tests.factories import CampaignFactory, MailingListFactory, NewsletterFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign():
    newsletter = NewsletterFactory()
    releases = MailingListFactory(newsletter=newsletter)
    for n in range(3):
        subscribers.subscribe(
            newsletter=newsletter,
            email=f"reader{n}@example.org",
            lists=[releases],
            source=ConsentSource.IMPORT,
            wording="I agree.",
            attestation="test",
        )
    campaign = CampaignFactory(newsletter=newsletter)
    campaign.lists.set([releases])
    lifecycle.campaign_start(campaign=campaign)
    return campaign


def silent(worker: str, seconds: float) -> None:
    WorkerHeartbeat.objects.filter(worker=worker).update(
        beat_at=timezone.now() - timedelta(seconds=seconds)
    )


def statuses() -> dict[int, tuple[str, str]]:
    return {row.pk: (row.status, row.worker) for row in Delivery.objects.all()}


def test_a_silent_workers_rows_come_back_long_before_their_lease_ends(campaign, settings):
    settings.SEND_LEASE_SECONDS = 3600
    settings.SEND_WORKER_SILENCE_SECONDS = 8
    heartbeats.heartbeat_begin("doomed")
    rows = ledger.claim(campaign_id=campaign.pk, size=3, worker="doomed")
    assert ledger.Flight("doomed").take_off(rows[0][0])
    silent("doomed", 9)

    report = heartbeats.silent_workers_take_back()

    assert (report.workers, report.requeued, report.uncertain) == (["doomed"], 2, 1)
    assert statuses() == {
        rows[0][0]: (DeliveryStatus.UNCERTAIN, ""),
        rows[1][0]: (DeliveryStatus.QUEUED, ""),
        rows[2][0]: (DeliveryStatus.QUEUED, ""),
    }
    assert "stopped answering" in Delivery.objects.get(pk=rows[0][0]).last_error
    assert not WorkerHeartbeat.objects.exists()
    # Sent by the next worker, the uncertain one never again.
    while sending.send_batches(campaign_id=campaign.pk):
        pass
    assert OutboxMessage.objects.count() == 2
    campaign.refresh_from_db()
    assert campaign.status == Status.SENT


def test_a_worker_that_beats_keeps_its_rows(campaign, settings):
    settings.SEND_WORKER_SILENCE_SECONDS = 8
    heartbeats.heartbeat_begin("alive")
    ledger.claim(campaign_id=campaign.pk, size=3, worker="alive")
    silent("alive", 7)

    assert heartbeats.silent_workers_take_back() == heartbeats.TakeBack()
    assert {status for status, _ in statuses().values()} == {DeliveryStatus.CLAIMED}
    assert WorkerHeartbeat.objects.filter(worker="alive").exists()


def test_a_worker_without_a_heartbeat_keeps_its_rows_until_their_lease(campaign):
    """A task run outside a Celery worker (a shell, an eager call) never beats: only its
    lease can tell that it died."""
    ledger.claim(campaign_id=campaign.pk, size=3, worker="no-heartbeat")
    WorkerHeartbeat.objects.create(
        worker="someone-else",
        host="h",
        pid=1,
        started_at=timezone.now() - timedelta(minutes=5),
        beat_at=timezone.now() - timedelta(minutes=5),
    )

    assert heartbeats.silent_workers_take_back().workers == ["someone-else"]
    assert set(statuses().values()) == {(DeliveryStatus.CLAIMED, "no-heartbeat")}


def test_a_paused_worker_declared_dead_sends_and_records_nothing_it_lost(campaign):
    """The worker was only paused (a stop-the-world pause, a frozen VM) while its rows
    were taken back: when it wakes, every write it makes is conditional on the row still
    being its own, and none is."""
    heartbeats.heartbeat_begin("paused")
    rows = ledger.claim(campaign_id=campaign.pk, size=3, worker="paused")
    flight = ledger.Flight("paused")
    assert flight.take_off(rows[0][0])
    silent("paused", 60)
    heartbeats.silent_workers_take_back()
    before = statuses()

    # It wakes up: the server had accepted the message in flight, it records that...
    flight.land(rows[0][0], "<late@example.org>")
    # ...and tries the next rows it had claimed.
    assert not flight.take_off(rows[1][0])
    assert ledger.take_off_all([rows[2][0]], "paused") == set()
    ledger.record_failure(
        [mock.Mock(delivery_id=rows[0][0])], "paused", smtplib.SMTPServerDisconnected("gone")
    )
    ledger.release([rows[1][0]], "paused")
    flight.flush()

    assert statuses() == before
    # Another worker sends the two it lost, once each; the uncertain row stays so.
    taken = ledger.claim(campaign_id=campaign.pk, size=3, worker="next")
    assert sorted(taken) == sorted(rows[1:])
    assert not ledger.Flight("paused").take_off(rows[1][0])


def test_a_task_run_again_takes_back_what_its_dead_run_held(campaign, settings):
    """Celery hands a task out again when the process running it died: the new run has
    the same worker name, and the rows of the dead run come back before it claims."""
    settings.SEND_LEASE_SECONDS = 3600
    heartbeats.heartbeat_begin("host:task-1")
    rows = ledger.claim(campaign_id=campaign.pk, size=2, worker="host:task-1")
    assert ledger.Flight("host:task-1").take_off(rows[0][0])

    heartbeats.heartbeat_begin("host:task-1")

    assert statuses()[rows[0][0]] == (DeliveryStatus.UNCERTAIN, "")
    assert statuses()[rows[1][0]] == (DeliveryStatus.QUEUED, "")
    assert "died before its task was run again" in Delivery.objects.get(pk=rows[0][0]).last_error
    assert WorkerHeartbeat.objects.get().worker == "host:task-1"


def test_a_task_that_ends_leaves_no_heartbeat(campaign):
    heartbeats.heartbeat_begin("done")
    heartbeats.heartbeat_end("done")
    assert not WorkerHeartbeat.objects.exists()


def test_taking_back_starts_the_campaigns_batch_tasks_again(
    campaign, django_capture_on_commit_callbacks
):
    heartbeats.heartbeat_begin("doomed")
    ledger.claim(campaign_id=campaign.pk, size=3, worker="doomed")
    silent("doomed", 60)
    with (
        mock.patch.object(lifecycle, "dispatch") as dispatch,
        django_capture_on_commit_callbacks(execute=True),
    ):
        heartbeats.silent_workers_take_back()
    dispatch.assert_called_once_with(campaign.pk)


def test_the_heartbeat_carries_the_name_the_task_stamps_on_its_rows(campaign):
    with mock.patch.object(ledger, "claim", wraps=ledger.claim) as claim:
        sending.send_batches(campaign_id=campaign.pk, task_id="task-7")
    assert claim.call_args.kwargs["worker"] == heartbeats.worker_name("task-7")
    assert tasks.send_batches.name in heartbeats.SEND_TASKS


def test_outside_a_worker_tasks_do_not_beat(campaign):
    heartbeats._on_task_prerun(task_id="t", task=tasks.send_batches)
    assert not WorkerHeartbeat.objects.exists()


def test_the_sweep_takes_back_from_silent_workers_and_dispatches_each_campaign_once(
    campaign, django_capture_on_commit_callbacks
):
    heartbeats.heartbeat_begin("doomed")
    rows = ledger.claim(campaign_id=campaign.pk, size=3, worker="doomed")
    assert ledger.Flight("doomed").take_off(rows[0][0])
    silent("doomed", 60)
    with (
        mock.patch.object(lifecycle, "dispatch") as dispatch,
        mock.patch.object(sweeper, "dispatch") as sweeper_dispatch,
        django_capture_on_commit_callbacks(execute=True),
    ):
        report = sweeper.sweep()
    assert (report.requeued, report.uncertain) == (2, 1)
    dispatch.assert_called_once_with(campaign.pk)
    sweeper_dispatch.assert_not_called()


def test_a_row_whose_lease_expired_is_taken_back_from_its_worker_too(campaign):
    """The lease's take-back is the heartbeat's: a worker that outlived its lease cannot
    record the row it had in flight, which stays uncertain until someone settles it."""
    rows = ledger.claim(campaign_id=campaign.pk, size=1, worker="slow")
    flight = ledger.Flight("slow")
    assert flight.take_off(rows[0][0])
    Delivery.objects.update(lease_until=timezone.now() - timedelta(seconds=1))
    assert sweeper.sweep().uncertain == 1

    flight.land(rows[0][0], "<late@example.org>")
    flight.flush()

    assert statuses()[rows[0][0]] == (DeliveryStatus.UNCERTAIN, "")
