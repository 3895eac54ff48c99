from django.core.management.base import BaseCommand, CommandError

from backup.exporting import export_newsletter
from newsletter.models import Newsletter


class Command(BaseCommand):
    help = (
        "Write a newsletter (lists, layouts, campaigns, subscribers, consent ledger, "
        "suppressions) as JSON Lines to standard output, for import_newsletter."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug")

    def handle(self, *args, slug: str, **options):
        newsletter = Newsletter.objects.filter(slug=slug).first()
        if newsletter is None:
            raise CommandError(f"No newsletter “{slug}”.")
        self.stdout.ending = ""  # the serializer ends its own lines
        counts = export_newsletter(newsletter=newsletter, stream=self.stdout)
        summary = ", ".join(f"{count} {label}" for label, count in counts.items())
        self.stderr.write(f"Exported {slug}: {summary}")
