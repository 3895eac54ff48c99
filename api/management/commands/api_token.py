from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from api.services import issue_token
from newsletter.models import Newsletter, Role


class Command(BaseCommand):
    help = "Print a new API token for USERNAME in NEWSLETTER (shown once, stored hashed)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("newsletter", help="the newsletter's slug")
        parser.add_argument("--role", choices=Role.values, default=Role.OWNER)
        parser.add_argument("--name", default="")

    def handle(self, *args, username: str, newsletter: str, role: str, name: str, **options):
        try:
            user = get_user_model().objects.get(username=username)
            target = Newsletter.objects.get(slug=newsletter)
            _, raw = issue_token(user=user, newsletter=target, role=role, name=name)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user {username!r}.") from None
        except Newsletter.DoesNotExist:
            raise CommandError(f"No newsletter {newsletter!r}.") from None
        except ValidationError as error:
            raise CommandError(error.messages[0]) from None
        self.stdout.write(raw)
