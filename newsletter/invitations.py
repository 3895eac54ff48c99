"""Invitations to join a newsletter's team: the only writer of ``Invitation``.

An owner invites an address with a role; the worker mails a link carrying a random
token, of which only the SHA-256 is stored (as for API tokens: 256 random bits need
no slow hash). The link works once, for ``VALID_DAYS`` after the last time it was
sent, and stops working when the invitation is revoked or sent again. Whoever holds
the link either creates an account for the invited address or, logged in, accepts
with the account they have.

Statuses: pending → accepted, pending → revoked; "expired" is a pending invitation
past ``expires_at``, which can still be sent again or revoked.
"""

import hashlib
import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import BaseUserManager
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from . import ratelimit, services, tasks
from .models import Invitation, InvitationStatus, Membership, Newsletter, Role

VALID_DAYS = 7
# An owner cannot use Crier to flood someone's inbox with invitations.
MAILS_PER_ADDRESS_PER_HOUR = 5

TRANSITIONS = {
    InvitationStatus.PENDING: {InvitationStatus.ACCEPTED, InvitationStatus.REVOKED},
    InvitationStatus.ACCEPTED: set(),
    InvitationStatus.REVOKED: set(),
}


class InvitationInvalid(Exception):
    """The link was used, revoked, replaced by a newer one, or has expired.

    One error for all of these: whoever holds a link learns nothing more from it.
    """


def token_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _pending(queryset) -> "Invitation":
    """Lock and return the invitation if it still works, else raise InvitationInvalid."""
    invitation = (
        queryset.select_for_update(of=("self",))
        .filter(status=InvitationStatus.PENDING, expires_at__gt=timezone.now())
        .select_related("newsletter")
        .first()
    )
    if invitation is None:
        raise InvitationInvalid
    return invitation


def _close(invitation: Invitation, status: str, *, accepted_by=None) -> None:
    """The one place a status changes; a closed invitation's link never works again."""
    if status not in TRANSITIONS[InvitationStatus(invitation.status)]:
        raise ValidationError(
            _("This invitation is already %(status)s.")
            % {"status": invitation.get_status_display().lower()},
            code="invitation_closed",
        )
    invitation.status = status
    invitation.accepted_by = accepted_by
    invitation.closed_at = timezone.now()
    invitation.token_digest = ""
    invitation.save(update_fields=["status", "accepted_by", "closed_at", "token_digest"])


def _queue_mail(invitation: Invitation) -> None:
    if not ratelimit.hit(
        "invitation-mail",
        invitation.email.lower(),
        limit=MAILS_PER_ADDRESS_PER_HOUR,
        window_seconds=3600,
    ):
        raise ValidationError(
            {
                "email": _(
                    "Too many invitations went to this address in the last hour. Try again later."
                )
            }
        )
    tasks.send_invitation.delay_on_commit(invitation.pk)


def _account_for(email: str):
    return get_user_model().objects.filter(email__iexact=email, is_active=True).first()


@transaction.atomic
def invitation_create(*, newsletter: Newsletter, email: str, role: str, invited_by) -> Invitation:
    """Invite an address; the mail leaves from a worker once this commits.

    Refused for an address that already belongs to a member, or that has an
    invitation still pending (send that one again instead). An expired one is
    revoked and replaced.
    """
    email = BaseUserManager.normalize_email(email.strip())
    try:
        validate_email(email)
    except ValidationError as error:
        raise ValidationError({"email": error.messages}) from None
    role = Role(role)
    if Membership.objects.filter(
        newsletter=newsletter, user__email__iexact=email, user__is_active=True
    ).exists():
        raise ValidationError({"email": _("Someone with this address is already a member.")})
    earlier = (
        Invitation.objects.select_for_update()
        .filter(newsletter=newsletter, email__iexact=email, status=InvitationStatus.PENDING)
        .first()
    )
    if earlier is not None:
        if not earlier.is_expired:
            raise ValidationError(
                {"email": _("This address is already invited: send the invitation again below.")}
            )
        _close(earlier, InvitationStatus.REVOKED)
    try:
        with transaction.atomic():
            invitation = Invitation.objects.create(
                newsletter=newsletter,
                email=email,
                role=role,
                invited_by=invited_by,
                expires_at=timezone.now() + timedelta(days=VALID_DAYS),
            )
    except IntegrityError:  # another owner invited the address at the same moment
        raise ValidationError(
            {"email": _("This address is already invited: send the invitation again below.")}
        ) from None
    _queue_mail(invitation)
    return invitation


@transaction.atomic
def invitation_resend(*, invitation: Invitation) -> Invitation:
    """Mail a fresh link, valid ``VALID_DAYS`` from now; the earlier link stops working."""
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.status != InvitationStatus.PENDING:
        raise ValidationError(
            _("This invitation is already %(status)s.")
            % {"status": invitation.get_status_display().lower()},
            code="invitation_closed",
        )
    invitation.token_digest = ""
    invitation.expires_at = timezone.now() + timedelta(days=VALID_DAYS)
    invitation.save(update_fields=["token_digest", "expires_at"])
    _queue_mail(invitation)
    return invitation


@transaction.atomic
def invitation_revoke(*, invitation: Invitation) -> Invitation:
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    _close(invitation, InvitationStatus.REVOKED)
    return invitation


def invitation_issue_link(*, invitation_id: int) -> tuple[Invitation, str] | None:
    """A new token for the mail about to be sent, or None if there is nothing to send.

    Called by the worker inside the transaction that sends the mail: if sending
    fails, the token is never stored. Re-checked here, as the task may run late or
    twice (acks_late); a second run mails a second link, and only the newest works.
    """
    try:
        invitation = _pending(Invitation.objects.filter(pk=invitation_id))
    except InvitationInvalid:
        return None
    raw = secrets.token_urlsafe(32)
    invitation.token_digest = token_digest(raw)
    invitation.sent_at = timezone.now()
    invitation.save(update_fields=["token_digest", "sent_at"])
    return invitation, raw


def invitation_for_token(raw: str) -> Invitation:
    """The working invitation a link carries; InvitationInvalid otherwise."""
    invitation = (
        Invitation.objects.filter(
            token_digest=token_digest(raw),
            status=InvitationStatus.PENDING,
            expires_at__gt=timezone.now(),
        )
        .select_related("newsletter", "invited_by")
        .first()
    )
    if invitation is None:
        raise InvitationInvalid
    return invitation


def account_exists_for(invitation: Invitation) -> bool:
    """Whether the invited address already has an account, which then accepts by logging
    in (the link's holder controls that mailbox, so this reveals nothing to a stranger)."""
    return _account_for(invitation.email) is not None


@transaction.atomic
def invitation_accept(*, token: str, user) -> Membership:
    """Join the newsletter with the invitation's role, as ``user``.

    Someone who is a member already keeps the role they have: an invitation never
    demotes.
    """
    invitation = _pending(Invitation.objects.filter(token_digest=token_digest(token)))
    membership = Membership.objects.filter(newsletter=invitation.newsletter, user=user).first()
    if membership is None:
        membership = services.member_add(
            newsletter=invitation.newsletter, user=user, role=invitation.role
        )
    _close(invitation, InvitationStatus.ACCEPTED, accepted_by=user)
    return membership


@transaction.atomic
def invitation_sign_up(*, token: str, username: str, password: str) -> Membership:
    """Create an account for the invited address with this username and password
    (validated by the form), and accept the invitation with it."""
    invitation = _pending(Invitation.objects.filter(token_digest=token_digest(token)))
    if _account_for(invitation.email) is not None:
        raise ValidationError(
            _("An account with this address exists: log in to accept the invitation."),
            code="account_exists",
        )
    user_model = get_user_model()
    if user_model.objects.filter(username__iexact=username).exists():
        raise ValidationError({"username": _("This username is taken.")})
    user = user_model.objects.create_user(
        username=username, email=invitation.email, password=password
    )
    return invitation_accept(token=token, user=user)
