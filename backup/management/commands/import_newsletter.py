import sys

from django.core.management.base import BaseCommand, CommandError

from backup.restoring import RestoreError, restore


class Command(BaseCommand):
    help = (
        "Restore a newsletter written by export_newsletter, keeping its ids so the "
        "consent ledger still verifies. All or nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="the export, or - for standard input")

    def handle(self, *args, file: str, **options):
        try:
            if file == "-":
                report = restore(lines=sys.stdin)
            else:
                with open(file, encoding="utf-8") as lines:
                    report = restore(lines=lines)
        except (RestoreError, OSError) as error:
            raise CommandError(f"Nothing was imported: {error}") from None
        summary = ", ".join(f"{count} {label}" for label, count in report.counts.items())
        self.stdout.write(f"Restored {report.newsletter}: {summary}")
