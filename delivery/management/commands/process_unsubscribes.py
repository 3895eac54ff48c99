import os
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from delivery import unsubscribe_mail

# sysexits.h: a mail server that pipes a message to us retries it later on 75.
EX_TEMPFAIL = 75


class Command(BaseCommand):
    help = (
        "Process mail to the List-Unsubscribe address (CRIER_UNSUBSCRIBE_MAILTO): one "
        "message from standard input (a pipe from the mail server), or every unseen "
        "message of the IMAP mailbox configured by CRIER_UNSUBSCRIBE_IMAP_*."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--imap", action="store_true", help="poll the IMAP mailbox instead of reading stdin"
        )
        parser.add_argument(
            "--recipient",
            default=os.environ.get("ORIGINAL_RECIPIENT", ""),
            help="the envelope recipient, when the mail server passes it "
            "(default: $ORIGINAL_RECIPIENT, which Postfix sets)",
        )

    def handle(self, *args, imap: bool, recipient: str, **options) -> None:
        if not settings.UNSUBSCRIBE_MAILTO:
            raise CommandError("Set CRIER_UNSUBSCRIBE_MAILTO: without it no message offers it.")
        if imap:
            self._poll()
            return
        raw = sys.stdin.buffer.read()
        if not raw.strip():
            raise CommandError("No message on standard input.")
        try:
            outcome = unsubscribe_mail.process_message(raw, envelope_recipient=recipient)
        except DatabaseError as error:
            # Exit 75 so the mail server keeps the message and tries again.
            self.stderr.write(f"Database unavailable, try again later: {error}")
            sys.exit(EX_TEMPFAIL)
        delivery = f" (delivery {outcome.delivery_id})" if outcome.delivery_id else ""
        self.stdout.write(f"{outcome.verdict}{delivery}")

    def _poll(self) -> None:
        if not settings.UNSUBSCRIBE_IMAP_HOST:
            raise CommandError(
                "Set CRIER_UNSUBSCRIBE_IMAP_HOST (and _USER, _PASSWORD) to poll IMAP."
            )
        report = unsubscribe_mail.poll_imap()
        self.stdout.write(
            f"{report.recorded} unsubscribe requests handled, {report.ignored} other messages"
        )
