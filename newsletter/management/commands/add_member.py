from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from newsletter import accounts, services
from newsletter.management.errors import one_line
from newsletter.models import Membership, Newsletter, Role


class Command(BaseCommand):
    help = (
        "Make USERNAME a member of the newsletter SLUG with a role (or change the role "
        "of a member). With --create, an account that does not exist is created and a "
        "one-time link to set its password is printed."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("slug", help="the newsletter's slug")
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument(
            "--create", action="store_true", help="create the account if it does not exist"
        )
        parser.add_argument("--email", default="", help="with --create: the new account's address")

    def handle(self, *args, slug: str, username: str, role: str, create: bool, email: str, **_):
        newsletter = Newsletter.objects.filter(slug=slug).first()
        if newsletter is None:
            raise CommandError(f"No newsletter with the slug {slug!r}.")
        if email and not create:
            raise CommandError("--email is only for a new account: add --create.")
        try:
            with transaction.atomic():
                user, created = self._account(username, create=create, email=email)
                self.stdout.write(self._join(newsletter, user, Role(role)))
        except ValidationError as error:
            raise CommandError(one_line(error)) from None
        if created:
            self.stdout.write(
                f"Created the account {user.get_username()}. It sets its password once at "
                "this link (it stops working once used):"
            )
            self.stdout.write(accounts.password_link(user))

    def _account(self, username: str, *, create: bool, email: str):
        user = get_user_model().objects.filter(username=username).first()
        if user is not None:
            if not user.is_active:
                raise CommandError(f"The account {username!r} is deactivated.")
            return user, False
        if not create:
            raise CommandError(
                f"No account with the username {username!r} (add --create to make one)."
            )
        return accounts.account_create(username=username, email=email), True

    def _join(self, newsletter: Newsletter, user, role: Role) -> str:
        """Add the member, or change their role: running the same command twice is safe."""
        name = user.get_username()
        membership = Membership.objects.filter(newsletter=newsletter, user=user).first()
        if membership is None:
            services.member_add(newsletter=newsletter, user=user, role=role)
        elif membership.role == role:
            return f"{name} is already {role.value} of {newsletter.name}."
        else:
            services.member_change_role(membership=membership, role=role)
        return f"{name} is now {role.value} of {newsletter.name}."
