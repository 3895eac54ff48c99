from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from newsletter.models import Newsletter
from subscribers import import_formats, importing
from subscribers.models import ImportBatch, ImportStatus, MailingList

SHOWN_PROBLEMS = 1000


class Command(BaseCommand):
    help = (
        "Import a CSV of subscribers into a list, confirmed on the strength of --consent "
        "(recorded in the consent ledger). Formats: Crier's CSV, listmonk's subscriber "
        "export, Mailchimp's audience exports, Mailman 3's member list (detected when "
        "--format is not given). Unsubscribed, cleaned or blocklisted rows in an export "
        "become suppressions."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--newsletter", required=True, help="the newsletter's slug")
        parser.add_argument("--list", required=True, dest="list_slug", help="the list's slug")
        parser.add_argument(
            "--consent", required=True, help="how these people consented (the attestation)"
        )
        parser.add_argument(
            "--format",
            dest="format_name",
            choices=import_formats.FORMAT_CHOICES,
            default=import_formats.AUTO,
            help="the file's format (default: detected from its first row)",
        )
        parser.add_argument("--actor", default="manage.py import_subscribers")
        parser.add_argument(
            "--resume",
            type=int,
            metavar="BATCH",
            help="continue an interrupted import (failed, or whose process was killed: "
            "make sure it is no longer running)",
        )

    def handle(self, *args, file: Path, newsletter: str, list_slug: str, consent: str, **options):
        if not file.is_file():
            raise CommandError(f"No such file: {file}")
        try:
            mailing_list = MailingList.objects.select_related("newsletter").get(
                newsletter__slug=newsletter, slug=list_slug
            )
        except MailingList.DoesNotExist:
            raise CommandError(f"No list {list_slug!r} in newsletter {newsletter!r}.") from None
        try:
            if options["resume"]:
                batch = ImportBatch.objects.get(
                    pk=options["resume"],
                    mailing_list=mailing_list,
                    # A killed process leaves its batch "running".
                    status__in=[ImportStatus.FAILED, ImportStatus.RUNNING],
                )
            else:
                batch = importing.start_import(
                    newsletter=Newsletter.objects.get(pk=mailing_list.newsletter_id),
                    mailing_list=mailing_list,
                    attestation=consent,
                    actor=options["actor"],
                    source_name=file.name,
                    format_name=options["format_name"],
                )
            batch = importing.import_file(batch=batch, path=file)
        except ImportBatch.DoesNotExist:
            raise CommandError(
                f"No interrupted import {options['resume']} for this list."
            ) from None
        except ValidationError as error:
            raise CommandError(error.messages[0]) from None
        self._report(batch)
        if batch.created + batch.subscribed + batch.unchanged + batch.suppressions_added == 0:
            raise CommandError("Nothing could be imported.")

    def _report(self, batch: ImportBatch) -> None:
        self.stdout.write(
            f"Import {batch.pk} ({batch.format}): {batch.rows} rows, {batch.created} new "
            f"subscribers, {batch.subscribed} subscribed, {batch.unchanged} already on the list "
            f"or left it, {batch.suppressed} suppressed, {batch.duplicates} duplicates, "
            f"{batch.bad_rows} bad rows, {batch.suppressions_added} suppressions added."
        )
        for problem in batch.problems.order_by("line")[:SHOWN_PROBLEMS]:
            self.stdout.write(f"line {problem.line}: {problem.reason}")
        if batch.bad_rows > SHOWN_PROBLEMS:
            self.stdout.write(f"… and {batch.bad_rows - SHOWN_PROBLEMS} more bad rows.")
