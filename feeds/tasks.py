from celery import shared_task

from feeds import services


@shared_task
def run_due_feeds() -> list[int]:
    return services.run_due_feeds()
