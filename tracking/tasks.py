from celery import shared_task

from tracking import services


@shared_task
def flush() -> int:
    return services.flush()
