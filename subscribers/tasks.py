from celery import shared_task

from subscribers import emails


@shared_task
def send_confirmation(subscriber_id: int, newsletter_id: int) -> bool:
    return emails.send_confirmation(subscriber_id=subscriber_id, newsletter_id=newsletter_id)
