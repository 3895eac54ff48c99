"""Accounts without the Django admin: made for automation, passwords set by mailed link.

Password links are Django's password-reset tokens (``default_token_generator``):
an HMAC of the account's id, current password hash and last login, so a link works
once (using it changes the hash), stops working when the password changes anyway,
and expires after ``PASSWORD_RESET_TIMEOUT``. Nothing is stored.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import BaseUserManager
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _

from . import ratelimit, tasks
from .links import absolute_url

# Reset mails per address and hour; more requests are accepted and silently dropped,
# so the form says the same whatever happens (no way to learn who has an account).
RESET_MAILS_PER_ADDRESS_PER_HOUR = 3


def password_link(user) -> str:
    """A link to the page that sets ``user``'s password (see the module's docstring)."""
    return absolute_url(
        "dashboard:password_reset_confirm",
        uidb64=urlsafe_base64_encode(force_bytes(user.pk)),
        token=default_token_generator.make_token(user),
    )


def reset_accounts(email: str):
    """The active accounts a reset for ``email`` reaches: every one with that address,
    including those created without a password (``account_create``), unlike Django's
    form, which skips them: here every account logs in with a password."""
    return get_user_model().objects.filter(email__iexact=email.strip(), is_active=True)


def password_reset_request(*, email: str, language: str) -> int:
    """Queue a reset link to each account with this address; return how many.

    The caller shows the same answer whatever this returns.
    """
    email = email.strip()
    if not email or not ratelimit.hit(
        "password-reset-mail",
        email.lower(),
        limit=RESET_MAILS_PER_ADDRESS_PER_HOUR,
        window_seconds=3600,
    ):
        return 0
    user_ids = list(reset_accounts(email).values_list("pk", flat=True))
    for user_id in user_ids:
        tasks.send_password_reset.delay_on_commit(user_id, language)
    return len(user_ids)


@transaction.atomic
def account_create(*, username: str, email: str = ""):
    """An account with no password yet: its owner sets one through ``password_link``."""
    user_model = get_user_model()
    user = user_model(username=username.strip(), email=BaseUserManager.normalize_email(email))
    user.set_unusable_password()
    user.full_clean()
    if user_model.objects.filter(username__iexact=user.username).exists():
        raise ValidationError({"username": _("This username is taken.")})
    user.save()
    return user
