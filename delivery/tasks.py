from celery import shared_task

from delivery import (
    bounces,
    digests,
    feedback,
    heartbeats,
    lifecycle,
    sending,
    sending_backends,
    services,
    sweeper,
    unsubscribe_mail,
)


@shared_task
def send_test_message(to: str, requested_by: str) -> None:
    services.send_test_message(to=to, requested_by=requested_by)


@shared_task
def send_campaign_test(campaign_id: int, to: list[str], requested_by: str) -> int:
    return services.send_campaign_test(campaign_id=campaign_id, to=to, requested_by=requested_by)


@shared_task
def prune_outbox() -> int:
    return services.outbox_prune()


@shared_task(bind=True)
def send_batches(self, campaign_id: int) -> None:
    """Loops over batches for a while, then hands over to a fresh task if work remains."""
    if sending.send_batches(campaign_id=campaign_id, task_id=self.request.id or ""):
        send_batches.delay(campaign_id)


@shared_task
def start_due_campaigns() -> list[int]:
    return lifecycle.start_due_campaigns()


@shared_task
def sweep() -> dict:
    report = sweeper.sweep()
    return {"requeued": report.requeued, "uncertain": report.uncertain}


@shared_task
def take_back_from_silent_workers() -> dict:
    """Every 5 s from beat: the rows of a worker that stopped beating go back to work."""
    report = heartbeats.silent_workers_take_back()
    return {"requeued": report.requeued, "uncertain": report.uncertain}


@shared_task
def prune_feedback_events() -> int:
    return feedback.prune_events()


@shared_task
def poll_bounce_mailbox() -> int:
    """Every few minutes when CRIER_BOUNCE_IMAP_HOST is set; a no-op otherwise."""
    return bounces.poll_imap().recorded


@shared_task
def poll_unsubscribe_mailbox() -> int:
    """Every few minutes when CRIER_UNSUBSCRIBE_IMAP_HOST is set; a no-op otherwise."""
    return unsubscribe_mail.poll_imap().recorded


@shared_task
def send_backend_test(backend_id: int, to: str, requested_by: str) -> bool:
    return sending_backends.test_send(backend_id=backend_id, to=to, requested_by=requested_by)


@shared_task
def check_backend_connection(backend_id: int) -> bool:
    return sending_backends.connection_check(backend_id=backend_id)


@shared_task(bind=True)
def send_digests(self) -> None:
    """Every minute from beat: digests whose period ended are made and sent; a run that
    had more to send hands over to a fresh task."""
    if digests.digests_run(task_id=self.request.id or ""):
        send_digests.delay()
