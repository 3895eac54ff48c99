"""The instance's own mail to the people who run newsletters: invitations and password
links. Built like the subscribers' confirmation (subject, text and HTML templates,
rendered in the reader's language, sent by a worker, built by ``delivery.system_mail``
through ``newsletter.mail``), but it is no newsletter's mail: it goes through Django's
default ``EMAIL_BACKEND`` (the outbox in ``make run``), from ``DEFAULT_FROM_EMAIL``, as
Django's own password mail would, never through a newsletter's sending backend.
"""

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import translation

from . import accounts, invitations, mail
from .links import absolute_url

logger = logging.getLogger(__name__)


def _send(*, template: str, context: dict, to: str, language: str) -> None:
    context = {**context, "LANGUAGE_CODE": language}
    with translation.override(language):
        subject = render_to_string(f"newsletter/email/{template}_subject.txt", context).strip()
        text = render_to_string(f"newsletter/email/{template}.txt", context)
        html = render_to_string(f"newsletter/email/{template}.html", context)
    mail.send(mail.SystemMessage(to=(to,), subject=subject, text=text, html=html))


def send_invitation(*, invitation_id: int) -> bool:
    """Mail a pending invitation's link; False when there is nothing to send any more.

    The token is stored in the transaction that sends: a mail that fails to leave
    leaves no working token behind.
    """
    with transaction.atomic():
        issued = invitations.invitation_issue_link(invitation_id=invitation_id)
        if issued is None:
            return False
        invitation, token = issued
        inviter = invitation.invited_by
        context = {
            "invitation": invitation,
            "newsletter": invitation.newsletter,
            "inviter": (inviter.get_full_name() or inviter.get_username()) if inviter else "",
            "url": absolute_url("dashboard:invitation", token=token),
            "valid_days": invitations.VALID_DAYS,
        }
        _send(
            template="invitation",
            context=context,
            to=invitation.email,
            language=invitation.newsletter.language,
        )
    logger.info("invitation mail sent", extra={"invitation": invitation_id})
    return True


def send_password_reset(*, user_id: int, language: str) -> bool:
    """Mail a link that sets the account's password; False if the account cannot get one."""
    user = get_user_model().objects.filter(pk=user_id, is_active=True).exclude(email="").first()
    if user is None:
        return False
    context = {
        "username": user.get_username(),
        "url": accounts.password_link(user),
        "valid_days": max(1, settings.PASSWORD_RESET_TIMEOUT // 86400),
    }
    _send(template="password_reset", context=context, to=user.email, language=language)
    logger.info("password reset mail sent", extra={"user": user_id})
    return True
