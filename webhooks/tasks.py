from celery import shared_task

from webhooks import services


@shared_task
def deliver(delivery_id: int) -> str | None:
    return services.deliver(delivery_id=delivery_id)


@shared_task
def redispatch_due() -> int:
    return services.redispatch_due()


@shared_task
def prune() -> int:
    return services.prune()
