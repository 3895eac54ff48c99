"""Worker heartbeats: a send task that falls silent gives its rows back within seconds.

A lease (``SEND_LEASE_SECONDS``, two minutes) is how long a claim holds when nobody
knows whether its worker still lives; it must outlast the slowest batch, so a killed
worker used to hold its rows for that long. A heartbeat tells sooner: while a send task
runs, its process writes the task's worker name (the one stamped on the rows it claims)
with PostgreSQL's clock every ``SEND_HEARTBEAT_SECONDS``, from a daemon thread with its
own database connection. After each beat the same thread, and beat's
``take_back_from_silent_workers`` every 5 s for when no send task runs anywhere, take
back the rows of a worker silent for longer than ``SEND_WORKER_SILENCE_SECONDS``:
claimed rows go back to the queue, the row in flight becomes ``uncertain`` (never
resent), and the campaign's batch tasks are started again.

The heartbeat only decides *when* rows are taken back; that no message is sent twice
never rests on it. Every write a worker makes to a row names the worker in its
``WHERE`` (and the status it expects, where the row could be claimed again), and a
taken-back row has no worker any more: a worker declared dead that was only paused
(a stop-the-world pause, a frozen VM) finds its claimed rows gone and sends none of
them, and its landing of the row that was in flight changes nothing (docs/decisions.md).
"""

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta

from celery.signals import task_postrun, task_prerun, worker_init
from django.conf import settings
from django.db import connection, transaction
from django.db.models.functions import Now

from campaigns.models import Campaign, Status

from . import ledger, lifecycle
from .models import Delivery, WorkerHeartbeat

logger = logging.getLogger(__name__)

# The tasks that claim delivery rows under the name ``worker_name`` gives them.
SEND_TASKS = frozenset({"delivery.tasks.send_batches"})


def worker_name(task_id: str) -> str:
    """The name a send task stamps on the rows it claims (and beats under): the host and
    the task's id, unique to the run, so a redelivered task is recognised by it."""
    return f"{socket.gethostname()}:{task_id}"


@dataclass
class TakeBack:
    """What a pass over the heartbeats took back, and from whom."""

    workers: list[str] = field(default_factory=list)
    requeued: int = 0
    uncertain: int = 0
    dispatched: list[int] = field(default_factory=list)


def silent_workers_take_back() -> TakeBack:
    """Take back the rows of every worker silent for longer than the silence limit.

    Silence is measured on PostgreSQL's clock, the one the heartbeats are written
    with, so hosts whose clocks disagree cannot make a live worker look silent. A
    heartbeat being written right now is locked, hence skipped: it is not silent.
    """
    silence = timedelta(seconds=settings.SEND_WORKER_SILENCE_SECONDS)
    with transaction.atomic():
        silent = list(
            WorkerHeartbeat.objects.select_for_update(skip_locked=True)
            .filter(beat_at__lt=Now() - silence)
            .values_list("worker", flat=True)
        )
        if not silent:
            return TakeBack()
        report = _take_back(silent, reason="stopped answering")
        WorkerHeartbeat.objects.filter(worker__in=silent).delete()
    logger.warning(
        "rows taken back from silent workers",
        extra={
            "workers": silent,
            "requeued": report.requeued,
            "uncertain": report.uncertain,
        },
    )
    return report


def heartbeat_begin(worker: str) -> None:
    """A send task starts in this process: its heartbeat, written now, is kept fresh by
    the process's heartbeat thread until ``heartbeat_end``.

    A heartbeat already under this name belongs to an earlier run of the same task
    (Celery hands a task out again when the process running it died): that run is over,
    so whatever it still holds is taken back now, before this run claims anything.
    """
    with transaction.atomic():
        earlier = WorkerHeartbeat.objects.select_for_update().filter(worker=worker).exists()
        if earlier:
            _take_back([worker], reason="died before its task was run again")
        WorkerHeartbeat(
            worker=worker,
            host=socket.gethostname(),
            pid=os.getpid(),
            started_at=Now(),
            beat_at=Now(),
        ).save()


def heartbeat_end(worker: str) -> None:
    """The task returned: it beats no more. What it still held (nothing, normally) is
    left to its lease, as the rows of a worker without a heartbeat are."""
    WorkerHeartbeat.objects.filter(worker=worker, pid=os.getpid()).delete()


def _take_back(workers: list[str], *, reason: str) -> TakeBack:
    """The rows these workers hold go back to work (``ledger.take_back``), and the
    campaigns that got rows back start their batch tasks again after the commit."""
    requeued, uncertain, campaigns = ledger.take_back(
        Delivery.objects.filter(worker__in=workers), reason=reason
    )
    sending = list(
        Campaign.objects.filter(pk__in=campaigns, status=Status.SENDING).values_list(
            "pk", flat=True
        )
    )
    for campaign_id in sending:
        transaction.on_commit(lambda campaign_id=campaign_id: lifecycle.dispatch(campaign_id))
    return TakeBack(list(workers), requeued, uncertain, sending)


class _Beating:
    """The send tasks running in this process, and the thread that beats for them.

    After each beat the thread also takes back the rows of silent workers: while a
    campaign is being sent every pool process may be busy with a send task for a
    minute, so beat's task can wait that long for a free one; the processes that are
    sending are the ones that notice a peer's silence in time, and pick its rows up.
    The thread is started by the first task of each process (a forked pool process
    inherits the set but not the thread) and sleeps, without a database connection,
    while no task runs.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.workers: set[str] = set()
        self.pid = 0

    def add(self, worker: str) -> None:
        with self.lock:
            if self.pid != os.getpid():
                self.pid = os.getpid()
                self.workers = set()
                threading.Thread(target=self._run, name="crier-heartbeat", daemon=True).start()
            self.workers.add(worker)

    def discard(self, worker: str) -> None:
        with self.lock:
            self.workers.discard(worker)

    def _run(self) -> None:
        while True:
            time.sleep(settings.SEND_HEARTBEAT_SECONDS)
            with self.lock:
                workers = sorted(self.workers)
            if not workers:
                connection.close()
                continue
            try:
                WorkerHeartbeat.objects.filter(worker__in=workers, pid=os.getpid()).update(
                    beat_at=Now()
                )
                silent_workers_take_back()
            except Exception:
                # Whatever went wrong, the thread must go on: one that died would get
                # its tasks declared dead. A missed beat only lets their rows be taken
                # back sooner; the next one opens a fresh connection.
                logger.warning("heartbeat not written", exc_info=True)
                connection.close()


_beating = _Beating()
_in_worker = False


def _on_worker_init(**kwargs) -> None:
    """Heartbeats only in Celery workers: a task run eagerly (tests, a shell) has none
    and keeps the lease alone."""
    global _in_worker
    _in_worker = True


def _on_task_prerun(task_id: str, task, **kwargs) -> None:
    if _in_worker and task.name in SEND_TASKS:
        worker = worker_name(task_id)
        heartbeat_begin(worker)
        _beating.add(worker)


def _on_task_postrun(task_id: str, task, **kwargs) -> None:
    if _in_worker and task.name in SEND_TASKS:
        worker = worker_name(task_id)
        _beating.discard(worker)
        heartbeat_end(worker)


def connect() -> None:
    """Called once from the app's ready(): Celery's worker and task signals."""
    worker_init.connect(_on_worker_init, dispatch_uid="delivery.heartbeats.worker_init")
    task_prerun.connect(_on_task_prerun, dispatch_uid="delivery.heartbeats.task_prerun")
    task_postrun.connect(_on_task_postrun, dispatch_uid="delivery.heartbeats.task_postrun")
