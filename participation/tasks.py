"""Participation's tasks: each one line calling a service or a mail function."""

from celery import shared_task

from . import emails


@shared_task
def tell_contributor(submission_id: int, event: str) -> bool:
    return emails.tell_contributor(submission_id=submission_id, event=event)


@shared_task
def send_referral_thanks(profile_id: int, milestone: int) -> bool:
    return emails.send_referral_thanks(profile_id=profile_id, milestone=milestone)


@shared_task
def send_answer_link(consultation_id: int, subscriber_id: int) -> bool:
    return emails.send_answer_link(consultation_id=consultation_id, subscriber_id=subscriber_id)


@shared_task(soft_time_limit=30 * 60, time_limit=30 * 60 + 60)
def refresh_transparency() -> int:
    """Hourly: the transparency pages' rollups of every newsletter that publishes one."""
    # Imported here: the services import this module for the tasks they queue.
    from .services import transparency

    return transparency.refresh_all()


@shared_task(soft_time_limit=30 * 60, time_limit=30 * 60 + 60)
def refresh_transparency_of(newsletter_id: int) -> None:
    """Right after an owner turns the page on, so it never shows empty for an hour."""
    from newsletter.models import Newsletter

    from .services import transparency

    newsletter = Newsletter.objects.filter(pk=newsletter_id).first()
    if newsletter is not None:
        transparency.refresh(newsletter)
