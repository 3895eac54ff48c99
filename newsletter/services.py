"""Changes to a newsletter and its team; the dashboard's settings pages call these."""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from .models import Membership, Newsletter, Role


@transaction.atomic
def newsletter_update(*, newsletter: Newsletter, changes: dict) -> Newsletter:
    """Apply validated field changes; the slug (in every public link) never changes here."""
    if "slug" in changes:
        raise ValidationError(_("A newsletter's slug cannot be changed."), code="slug_fixed")
    for field, value in changes.items():
        setattr(newsletter, field, value)
    newsletter.full_clean()
    newsletter.save(update_fields=[*changes, "updated_at"])
    return newsletter


def find_user(identifier: str):
    """The active account whose username or email is ``identifier`` (case-insensitive).

    An email shared by several accounts is ambiguous and refused rather than guessed.
    """
    users = list(
        get_user_model()
        .objects.filter(is_active=True)
        .filter(Q(username__iexact=identifier) | Q(email__iexact=identifier))[:2]
    )
    if len(users) != 1:
        raise ValidationError(
            _("No single active account has the username or email “%(identifier)s”.")
            % {"identifier": identifier},
            code="unknown_user",
        )
    return users[0]


@transaction.atomic
def member_add(*, newsletter: Newsletter, identifier: str, role: str) -> Membership:
    """Give an existing account a role in the newsletter."""
    user = find_user(identifier.strip())
    if Membership.objects.filter(newsletter=newsletter, user=user).exists():
        raise ValidationError(
            _("%(user)s is already a member.") % {"user": user.get_username()},
            code="already_member",
        )
    return Membership.objects.create(newsletter=newsletter, user=user, role=Role(role))


@transaction.atomic
def member_change_role(*, membership: Membership, role: str) -> Membership:
    """Change a member's role; the newsletter always keeps at least one owner."""
    locked = _lock_team(membership)
    if locked.role == Role.OWNER and role != Role.OWNER:
        _refuse_if_last_owner(locked)
    locked.role = Role(role)
    locked.save(update_fields=["role"])
    return locked


@transaction.atomic
def member_remove(*, membership: Membership) -> None:
    """Remove a member (their API tokens stop working at once: see api.services)."""
    locked = _lock_team(membership)
    if locked.role == Role.OWNER:
        _refuse_if_last_owner(locked)
    locked.delete()


def _lock_team(membership: Membership) -> Membership:
    """Lock every membership of the newsletter, so two owners demoting each other
    at the same moment cannot leave it without one."""
    team = list(
        Membership.objects.select_for_update()
        .filter(newsletter_id=membership.newsletter_id)
        .order_by("pk")
    )
    for member in team:
        if member.pk == membership.pk:
            return member
    raise Membership.DoesNotExist


def _refuse_if_last_owner(membership: Membership) -> None:
    other_owners = (
        Membership.objects.filter(newsletter_id=membership.newsletter_id, role=Role.OWNER)
        .exclude(pk=membership.pk)
        .exists()
    )
    if not other_owners:
        raise ValidationError(
            _("A newsletter needs at least one owner: make someone else owner first."),
            code="last_owner",
        )
