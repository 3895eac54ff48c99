"""Invitations: a link that works once, for a week, only while pending; digests only."""

import hashlib
import re
import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from delivery.models import OutboxMessage
from newsletter import emails, invitations
from newsletter.models import Invitation, InvitationStatus, Membership, Role
from tests.conftest import wait_for
from tests.factories import PASSWORD, MembershipFactory, NewsletterFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner():
    return MembershipFactory(role=Role.OWNER, user__username="olga", user__first_name="Olga")


def invite(owner, email="ada@example.org", role=Role.EDITOR) -> Invitation:
    return invitations.invitation_create(
        newsletter=owner.newsletter, email=email, role=role, invited_by=owner.user
    )


def mailed_token(invitation: Invitation) -> str:
    """Send the invitation as the worker does; return the token its mail carries."""
    assert emails.send_invitation(invitation_id=invitation.pk)
    mail = OutboxMessage.objects.filter(recipients=[invitation.email]).order_by("-pk").first()
    return re.search(r"/dashboard/invitations/([\w-]+)/", mail.body("plain")).group(1)


def test_an_invitation_is_queued_after_commit_and_valid_for_a_week(
    owner, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        invitation = invite(owner, email="Ada@EXAMPLE.org")
    assert len(callbacks) == 1
    assert invitation.email == "Ada@example.org"
    assert invitation.status == InvitationStatus.PENDING
    assert invitation.token_digest == ""
    expected = timezone.now() + timedelta(days=invitations.VALID_DAYS)
    assert abs(invitation.expires_at - expected) < timedelta(minutes=1)


def test_the_mail_carries_a_token_of_which_only_the_digest_is_stored(owner):
    invitation = invite(owner)
    token = mailed_token(invitation)
    mail = OutboxMessage.objects.get()
    assert mail.subject == f"You are invited to help run {owner.newsletter.name}"
    assert "Olga invites you to join the team" in mail.body("plain")
    assert mail.from_email == settings.DEFAULT_FROM_EMAIL
    invitation.refresh_from_db()
    assert invitation.token_digest == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(Invitation.objects.values().get())
    assert invitations.invitation_for_token(token) == invitation


def test_accepting_makes_a_member_with_the_role_and_the_link_works_once(owner):
    token = mailed_token(invite(owner, role=Role.EDITOR))
    bob = UserFactory(username="bob", email="someone-else@example.org")
    membership = invitations.invitation_accept(token=token, user=bob)
    assert (membership.user, membership.role) == (bob, Role.EDITOR)
    invitation = Invitation.objects.get()
    assert (invitation.status, invitation.accepted_by, invitation.token_digest) == (
        InvitationStatus.ACCEPTED,
        bob,
        "",
    )
    other = UserFactory(username="carol")
    with pytest.raises(invitations.InvitationInvalid):
        invitations.invitation_accept(token=token, user=other)
    with pytest.raises(invitations.InvitationInvalid):
        invitations.invitation_for_token(token)
    assert not Membership.objects.filter(user=other).exists()


def test_an_expired_link_does_not_work(owner):
    invitation = invite(owner)
    token = mailed_token(invitation)
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now())
    with pytest.raises(invitations.InvitationInvalid):
        invitations.invitation_for_token(token)
    with pytest.raises(invitations.InvitationInvalid):
        invitations.invitation_accept(token=token, user=UserFactory())
    with pytest.raises(invitations.InvitationInvalid):
        invitations.invitation_sign_up(token=token, username="ada", password=PASSWORD)
    assert not get_user_model().objects.filter(username="ada").exists()


def test_a_revoked_link_does_not_work_and_cannot_be_sent_again(owner):
    invitation = invite(owner)
    token = mailed_token(invitation)
    invitations.invitation_revoke(invitation=invitation)
    with pytest.raises(invitations.InvitationInvalid):
        invitations.invitation_for_token(token)
    with pytest.raises(ValidationError, match="already revoked"):
        invitations.invitation_resend(invitation=invitation)
    assert not emails.send_invitation(invitation_id=invitation.pk)
    assert OutboxMessage.objects.count() == 1


def test_sending_again_replaces_the_link_and_extends_the_week(owner):
    invitation = invite(owner)
    first = mailed_token(invitation)
    Invitation.objects.filter(pk=invitation.pk).update(
        expires_at=timezone.now() - timedelta(days=1)
    )
    invitations.invitation_resend(invitation=invitation)
    second = mailed_token(invitation)
    assert first != second
    with pytest.raises(invitations.InvitationInvalid):
        invitations.invitation_for_token(first)
    assert invitations.invitation_for_token(second).expires_at > timezone.now() + timedelta(days=6)


def test_signing_up_creates_the_account_for_the_invited_address(owner):
    token = mailed_token(invite(owner, email="ada@example.org", role=Role.VIEWER))
    membership = invitations.invitation_sign_up(token=token, username="ada", password=PASSWORD)
    ada = membership.user
    assert (ada.username, ada.email, membership.role) == ("ada", "ada@example.org", Role.VIEWER)
    assert ada.check_password(PASSWORD)
    assert Invitation.objects.get().status == InvitationStatus.ACCEPTED


def test_signing_up_refuses_a_taken_username_and_an_address_with_an_account(owner):
    UserFactory(username="Ada", email="other@example.org")
    token = mailed_token(invite(owner, email="new@example.org"))
    with pytest.raises(ValidationError) as error:
        invitations.invitation_sign_up(token=token, username="ada", password=PASSWORD)
    assert "username" in error.value.message_dict
    UserFactory(username="grace", email="grace@example.org")
    token = mailed_token(invite(owner, email="GRACE@example.org"))
    assert invitations.account_exists_for(invitations.invitation_for_token(token))
    with pytest.raises(ValidationError, match="log in to accept"):
        invitations.invitation_sign_up(token=token, username="grace2", password=PASSWORD)
    assert get_user_model().objects.count() == 3
    assert Invitation.objects.filter(status=InvitationStatus.PENDING).count() == 2


def test_accepting_never_demotes_a_member(owner):
    token = mailed_token(invite(owner, email="olga.home@example.org", role=Role.VIEWER))
    membership = invitations.invitation_accept(token=token, user=owner.user)
    assert membership.role == Role.OWNER


@pytest.mark.parametrize("email", ["", "ada", "ada@", "a b@example.org"])
def test_a_bad_address_is_refused_and_nothing_is_stored(owner, email):
    with pytest.raises(ValidationError) as error:
        invite(owner, email=email)
    assert "email" in error.value.message_dict
    assert not Invitation.objects.exists()


def test_members_and_pending_invitations_are_not_invited_twice(owner):
    MembershipFactory(newsletter=owner.newsletter, user__email="bob@example.org")
    with pytest.raises(ValidationError, match="already a member"):
        invite(owner, email="BOB@example.org")
    invite(owner, email="ada@example.org")
    with pytest.raises(ValidationError, match="already invited"):
        invite(owner, email="ADA@example.org")
    assert Invitation.objects.count() == 1


def test_an_expired_invitation_is_replaced_by_a_new_one(owner):
    earlier = invite(owner)
    Invitation.objects.filter(pk=earlier.pk).update(expires_at=timezone.now())
    later = invite(owner, role=Role.OWNER)
    earlier.refresh_from_db()
    assert earlier.status == InvitationStatus.REVOKED
    assert (later.status, later.role) == (InvitationStatus.PENDING, Role.OWNER)


def test_an_address_gets_a_few_invitation_mails_an_hour_at_most(owner):
    invitation = invite(owner)
    for _ in range(invitations.MAILS_PER_ADDRESS_PER_HOUR - 1):
        invitations.invitation_resend(invitation=invitation)
    with pytest.raises(ValidationError, match="Too many invitations"):
        invitations.invitation_resend(invitation=invitation)
    other = NewsletterFactory()
    with pytest.raises(ValidationError, match="Too many invitations"):
        invitations.invitation_create(
            newsletter=other, email="ada@example.org", role=Role.VIEWER, invited_by=None
        )


def test_an_invitation_of_another_newsletter_is_its_own(owner):
    """The same address may be invited by two newsletters; each link joins its own."""
    other = MembershipFactory(role=Role.OWNER)
    here = mailed_token(invite(owner))
    there = mailed_token(invite(other))
    ada = UserFactory(username="ada", email="ada@example.org")
    invitations.invitation_accept(token=there, user=ada)
    assert list(Membership.objects.filter(user=ada).values_list("newsletter", flat=True)) == [
        other.newsletter_id
    ]
    assert invitations.invitation_for_token(here).newsletter == owner.newsletter


def blocked_on_a_lock() -> int:
    """Sessions of this database waiting for a lock (the statistics are read afresh:
    inside a transaction PostgreSQL would keep showing its first snapshot)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_two_owners_inviting_one_address_at_once_make_one_invitation():
    """The second insert waits on the unique index for the first transaction, then is
    refused with the form's message rather than an IntegrityError."""
    owner = MembershipFactory(role=Role.OWNER)
    first_inserted, outcome = threading.Event(), {}

    def second_owner():
        try:
            first_inserted.wait(10)
            invite(owner)
        except ValidationError as error:
            outcome["error"] = error
        finally:
            connection.close()

    thread = threading.Thread(target=second_owner)
    thread.start()
    with transaction.atomic():
        invite(owner)
        first_inserted.set()
        wait_for(lambda: blocked_on_a_lock() == 1, timeout=20, interval=0.05)
    thread.join(10)
    assert "already invited" in str(outcome["error"])
    assert Invitation.objects.count() == 1
