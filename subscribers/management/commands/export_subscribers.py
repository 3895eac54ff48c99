from django.core.management.base import BaseCommand, CommandError

from subscribers.exporting import export_list
from subscribers.models import MailingList


class Command(BaseCommand):
    help = "Write the subscribers of a list as CSV to standard output (formula-safe)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--newsletter", required=True, help="the newsletter's slug")
        parser.add_argument("--list", required=True, dest="list_slug", help="the list's slug")

    def handle(self, *args, newsletter: str, list_slug: str, **options) -> None:
        try:
            mailing_list = MailingList.objects.get(newsletter__slug=newsletter, slug=list_slug)
        except MailingList.DoesNotExist:
            raise CommandError(f"No list {list_slug!r} in newsletter {newsletter!r}.") from None
        for line in export_list(mailing_list):
            self.stdout.write(line, ending="")
