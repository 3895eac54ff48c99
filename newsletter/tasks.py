from celery import shared_task


@shared_task
def send_invitation(invitation_id: int) -> bool:
    # Imported here: emails uses the services that queue these tasks.
    from newsletter import emails

    return emails.send_invitation(invitation_id=invitation_id)


@shared_task
def send_password_reset(user_id: int, language: str) -> bool:
    from newsletter import emails

    return emails.send_password_reset(user_id=user_id, language=language)
