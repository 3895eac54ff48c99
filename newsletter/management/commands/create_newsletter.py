from email.utils import parseaddr

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from newsletter.management.errors import one_line
from newsletter.models import Newsletter
from newsletter.services import newsletter_create


class Command(BaseCommand):
    help = (
        "Create a newsletter with the stock layouts; with --owner, that account is its "
        "first owner. It cannot send until it has a postal address (--postal-address, "
        "or Settings in the dashboard)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("slug", help="in the public page's address, /n/<slug>/")
        parser.add_argument("--name", required=True)
        parser.add_argument("--owner", metavar="USERNAME", help="an existing account")
        parser.add_argument("--from-name", help="the sender's name (default: the name)")
        parser.add_argument(
            "--from-email", help="the sender's address (default: DEFAULT_FROM_EMAIL's)"
        )
        parser.add_argument("--postal-address", default="", help="shown in every mail's footer")
        parser.add_argument("--language", default=settings.LANGUAGE_CODE)
        parser.add_argument("--timezone", default="UTC", help="e.g. Europe/Paris")

    def handle(self, *args, **options) -> None:
        owner = None
        if options["owner"]:
            owner = (
                get_user_model().objects.filter(username=options["owner"], is_active=True).first()
            )
            if owner is None:
                raise CommandError(f"No active account with the username {options['owner']!r}.")
        if Newsletter.objects.filter(slug=options["slug"]).exists():
            raise CommandError(f"A newsletter with the slug {options['slug']!r} exists already.")
        try:
            newsletter = newsletter_create(
                name=options["name"],
                slug=options["slug"],
                from_name=options["from_name"] or options["name"],
                from_email=options["from_email"] or parseaddr(settings.DEFAULT_FROM_EMAIL)[1],
                postal_address=options["postal_address"],
                language=options["language"],
                timezone=options["timezone"],
                owner=owner,
            )
        except ValidationError as error:
            raise CommandError(one_line(error)) from None
        self.stdout.write(
            f"Created {newsletter.name} (/dashboard/n/{newsletter.slug}/), "
            f"sending as {newsletter.sender}."
        )
        if owner is None:
            self.stdout.write(
                f"It has no owner yet: python manage.py add_member {newsletter.slug} "
                "USERNAME --role owner"
            )
        for problem in newsletter.sending_problems():
            self.stdout.write(self.style.WARNING(problem))
