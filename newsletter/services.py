"""Changes to a newsletter and its team; the dashboard's settings pages call these."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import slugify
from django.utils.translation import gettext as _

from .models import Membership, Newsletter, Role
from .signals import newsletter_created


@transaction.atomic
def newsletter_create(
    *,
    name: str,
    from_name: str,
    from_email: str,
    slug: str = "",
    postal_address: str = "",
    language: str = "en",
    timezone: str = "UTC",
    description: str = "",
    owner=None,
) -> Newsletter:
    """A new newsletter, its ``owner`` (if given) as its first owner, and what other
    apps give every newsletter (``newsletter_created``: the stock layouts).

    An empty slug is made from the name. Every field is validated as the model says;
    a bad one raises a ValidationError naming it, and nothing is written.
    """
    newsletter = Newsletter(
        name=name.strip(),
        slug=slug.strip() or slugify(name)[: Newsletter._meta.get_field("slug").max_length],
        from_name=from_name.strip(),
        from_email=from_email.strip(),
        postal_address=postal_address.strip(),
        language=language,
        timezone=timezone,
        description=description.strip(),
    )
    newsletter.full_clean()
    newsletter.save()
    if owner is not None:
        Membership.objects.create(newsletter=newsletter, user=owner, role=Role.OWNER)
    newsletter_created.send(sender=Newsletter, newsletter=newsletter)
    return newsletter


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


@transaction.atomic
def member_add(*, newsletter: Newsletter, user, role: str) -> Membership:
    """Give an active account a role in the newsletter (``add_member``, invitations)."""
    if not user.is_active:
        raise ValidationError(
            _("The account %(user)s is deactivated.") % {"user": user.get_username()},
            code="inactive_user",
        )
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
