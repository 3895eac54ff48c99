from celery import shared_task

from . import services


@shared_task
def decide_due() -> list[int]:
    return services.experiments_decide_due()
