from celery import shared_task

from delivery import services


@shared_task
def send_test_message(to: str, requested_by: str) -> None:
    services.send_test_message(to=to, requested_by=requested_by)


@shared_task
def send_campaign_test(campaign_id: int, to: list[str], requested_by: str) -> int:
    return services.send_campaign_test(campaign_id=campaign_id, to=to, requested_by=requested_by)


@shared_task
def prune_outbox() -> int:
    return services.outbox_prune()
