"""API tokens: issue, authenticate, revoke. Views and commands call these."""

import secrets
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from newsletter.access import role_of
from newsletter.models import Newsletter, Role

from .models import TOKEN_PREFIX, ApiToken, hash_token

# Writing last_used_at on every request would turn each read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@transaction.atomic
def issue_token(
    *, user, newsletter: Newsletter, role: str = Role.EDITOR, name: str = ""
) -> tuple[ApiToken, str]:
    """Create a token and return it with its only plain-text copy.

    The token never carries more than the user's role today.
    """
    user_role = role_of(user, newsletter)
    if user_role is None:
        raise ValidationError(f"{user} is not a member of {newsletter.slug}.", code="not_member")
    role = Role.lesser(role, user_role)
    secret = secrets.token_urlsafe(32)
    raw = f"{TOKEN_PREFIX}{secret}"
    token = ApiToken.objects.create(
        user=user,
        newsletter=newsletter,
        role=role,
        name=name,
        prefix=raw[: len(TOKEN_PREFIX) + 6],
        digest=hash_token(raw),
    )
    return token, raw


def authenticate(raw: str) -> tuple[ApiToken, Role] | None:
    """The live token for ``raw`` and the role it grants now, or None."""
    token = (
        ApiToken.objects.select_related("newsletter", "user")
        .filter(digest=hash_token(raw), revoked_at=None, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    user_role = role_of(token.user, token.newsletter)
    if user_role is None:
        return None
    role = Role.lesser(token.role, user_role)
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token, role


def revoke_token(*, token: ApiToken) -> None:
    ApiToken.objects.filter(pk=token.pk, revoked_at=None).update(revoked_at=timezone.now())
