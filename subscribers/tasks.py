from pathlib import Path

from celery import shared_task

from subscribers import emails


@shared_task
def send_confirmation(
    subscriber_id: int, newsletter_id: int, name: str = "", tracking: str = ""
) -> bool:
    return emails.send_confirmation(
        subscriber_id=subscriber_id, newsletter_id=newsletter_id, name=name, tracking=tracking
    )


@shared_task
def send_data_link(subscriber_id: int) -> bool:
    return emails.send_data_link(subscriber_id=subscriber_id)


@shared_task(soft_time_limit=6 * 3600, time_limit=6 * 3600 + 60)
def import_subscribers(batch_id: int, path: str) -> None:
    """Import an uploaded CSV; a redelivered task resumes where the batch stopped."""
    # Imported here: importing uses services, which import this module.
    from subscribers import importing
    from subscribers.models import ImportBatch

    importing.import_file(batch=ImportBatch.objects.get(pk=batch_id), path=Path(path))
    Path(path).unlink(missing_ok=True)


@shared_task
def run_bulk_job(job_id: int) -> None:
    """Work on a bulk job for a while; queue the rest, so other tasks get their turn."""
    from subscribers import bulk_jobs  # bulk_jobs queues this task

    if not bulk_jobs.bulk_job_run(job_id=job_id):
        run_bulk_job.delay(job_id)


@shared_task
def resume_bulk_jobs() -> int:
    from subscribers import bulk_jobs

    return bulk_jobs.bulk_jobs_resume_stale()
