"""Bulk actions on selections too large for one request, done by a worker with progress.

``bulk_job_start`` freezes the selection (the ids that match when the editor asks,
one INSERT … SELECT into ``BulkJobMember``) and queues ``tasks.run_bulk_job`` after
the commit. ``bulk_job_run`` then takes the members a chunk at a time, in id order,
locked with SKIP LOCKED, applies ``bulk.apply_chunk`` to them, deletes them and adds
the chunk's counts to the job, all in one transaction: the members left are the work
left. A worker killed mid-chunk rolls the chunk back whole; whoever runs the job next
(the redelivered task, or ``bulk_jobs_resume_stale`` from beat) starts there. Two
runs of one job at once share the chunks out instead of doing them twice.

``_move`` is the only writer of a job's status.
"""

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from . import bulk, tasks
from .models import BulkJob, BulkJobMember, BulkJobStatus, Subscriber

logger = logging.getLogger(__name__)

# A task works this long, then queues its continuation: other tasks get their turn
# and no run nears the broker's visibility timeout.
RUN_SECONDS = 60
# A job that has not moved for this long lost its worker (or its message): resumed.
STALE_SECONDS = 300

ALLOWED = {
    BulkJobStatus.QUEUED: {BulkJobStatus.RUNNING, BulkJobStatus.FAILED},
    BulkJobStatus.RUNNING: {BulkJobStatus.DONE, BulkJobStatus.FAILED},
    BulkJobStatus.DONE: set(),
    BulkJobStatus.FAILED: set(),
}


def runs_in_request(contacts: QuerySet[Subscriber]) -> bool:
    """Whether the selection is small enough to act on in the request (counted only up
    to one past the limit, so a six-figure selection costs no full count)."""
    limit = settings.BULK_ACTION_IN_REQUEST_MAX
    return contacts.order_by().values("pk")[: limit + 1].count() <= limit


@transaction.atomic
def bulk_job_start(
    *,
    request: bulk.BulkRequest,
    contacts: QuerySet[Subscriber],
    filters: dict,
    requested_by: AbstractBaseUser | None,
) -> BulkJob:
    """Record the job and its frozen selection, and queue it once both are committed."""
    bulk.check(request)
    job = BulkJob.objects.create(
        newsletter=request.newsletter,
        action=request.action,
        mailing_list=request.mailing_list,
        attestation=request.attestation.strip(),
        filters=filters,
        requested_by=requested_by,
        actor=request.actor,
    )
    ids = (
        contacts.filter(newsletter=request.newsletter)
        .order_by()
        .annotate(member_id=F("pk"))
        .values("member_id")
    )
    sql, params = ids.query.sql_with_params()
    table = BulkJobMember._meta.db_table
    with connection.cursor() as cursor:
        # The selector's own SQL, every value a bound parameter: one statement, however many.
        cursor.execute(
            f"INSERT INTO {table} (job_id, subscriber_id) SELECT %s, selected.member_id"  # noqa: S608
            f" FROM ({sql}) selected ON CONFLICT DO NOTHING",
            [job.pk, *params],
        )
        job.total = cursor.rowcount
    BulkJob.objects.filter(pk=job.pk).update(total=job.total)
    tasks.run_bulk_job.delay_on_commit(job.pk)
    return job


def bulk_job_run(*, job_id: int, seconds: float = RUN_SECONDS) -> bool:
    """Work on the job for about ``seconds``; return False when time ran out with
    work left (the caller queues a continuation), True when this run is over.

    A refused chunk (the list was archived meanwhile) fails the job with its reason;
    a database that went away leaves it running, to be resumed; any other error
    fails it, with the error for the page.
    """
    job = BulkJob.objects.select_related("newsletter", "mailing_list").get(pk=job_id)
    if job.finished:
        return True
    if job.status == BulkJobStatus.QUEUED:
        _move(job, BulkJobStatus.RUNNING)
    request = bulk.BulkRequest(
        newsletter=job.newsletter,
        action=job.action,
        mailing_list=job.mailing_list,
        attestation=job.attestation,
        actor=job.actor,
        job_id=job.pk,
    )
    deadline = time.monotonic() + seconds
    try:
        bulk.check(request)
        while _run_chunk(job, request):
            if time.monotonic() >= deadline:
                return False
    except ValidationError as error:
        _move(job, BulkJobStatus.FAILED, error=" ".join(error.messages))
        return True
    except (OperationalError, InterfaceError):
        raise  # PostgreSQL went away: the job stays running and is resumed
    except Exception as error:
        _move(job, BulkJobStatus.FAILED, error=str(error)[:1000])
        raise
    if job.members.exists():
        # Another run holds the last chunks: it finishes the job (or, should it die,
        # the sweeper resumes it). Queuing a continuation here would only spin.
        return True
    _move(job, BulkJobStatus.DONE)
    return True


@transaction.atomic
def _run_chunk(job: BulkJob, request: bulk.BulkRequest) -> bool:
    """Apply one chunk and account for it in one transaction; False when none is left."""
    ids = list(
        job.members.order_by("subscriber_id")
        .select_for_update(skip_locked=True)
        .values_list("subscriber_id", flat=True)[: bulk.CHUNK_SIZE]
    )
    if not ids:
        return False
    outcome = bulk.apply_chunk(request=request, ids=ids)
    job.members.filter(subscriber_id__in=ids).delete()
    BulkJob.objects.filter(pk=job.pk).update(
        done=F("done") + len(ids),
        changed=F("changed") + outcome.changed,
        already=F("already") + outcome.already,
        skipped=F("skipped") + len(ids) - outcome.changed - outcome.already,
        updated_at=timezone.now(),
    )
    return True


def _move(job: BulkJob, status: str, *, error: str = "") -> None:
    """The one writer of a job's status, along ``ALLOWED`` only. A repeat is a no-op,
    and so is any move of a finished job: a late run of it changes nothing."""
    current = BulkJob.objects.filter(pk=job.pk).values_list("status", flat=True).get()
    if current == status or not ALLOWED[current]:
        return
    if status not in ALLOWED[current]:
        raise ValueError(f"bulk job {job.pk}: {current} cannot become {status}")
    now = timezone.now()
    changes: dict = {"status": status, "updated_at": now}
    if status == BulkJobStatus.RUNNING:
        changes["started_at"] = now
    else:
        changes["finished_at"] = now
        changes["error"] = error
    BulkJob.objects.filter(pk=job.pk, status=current).update(**changes)
    if status != BulkJobStatus.RUNNING:
        # Whatever was left will not be done: the frozen ids go with it.
        job.members.all().delete()
    for field, value in changes.items():
        setattr(job, field, value)


def bulk_jobs_resume_stale() -> int:
    """Queue again the unfinished jobs that stopped moving; return how many.

    A worker killed with its task acknowledged, or a broker that lost the message,
    leaves a job queued or running with nobody on it. Touching ``updated_at`` first
    queues each at most once per ``STALE_SECONDS``.
    """
    cutoff = timezone.now() - timedelta(seconds=STALE_SECONDS)
    stale = list(
        BulkJob.objects.filter(
            status__in=(BulkJobStatus.QUEUED, BulkJobStatus.RUNNING), updated_at__lt=cutoff
        ).values_list("pk", flat=True)
    )
    for job_id in stale:
        touched = BulkJob.objects.filter(pk=job_id, updated_at__lt=cutoff).update(
            updated_at=timezone.now()
        )
        if touched:
            logger.warning("bulk job resumed", extra={"bulk_job": job_id})
            tasks.run_bulk_job.delay(job_id)
    return len(stale)
