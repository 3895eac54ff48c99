"""The shape shared by the commands that read one of Crier's mailboxes.

A mail server pipes one message at a time to the command (exit 75 asks it to try
again later when the database is down), or beat runs it with ``--imap`` to poll the
mailbox. The bounce and unsubscribe commands differ only in the module that reads a
message, the settings they need and the words of their report.
"""

import os
import sys

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

# sysexits.h: a mail server that pipes a message to us retries it later on 75.
EX_TEMPFAIL = 75


class MailboxCommand(BaseCommand):
    """Subclasses name what reads a message, what polls the mailbox, and the checks."""

    def process_message(self, raw: bytes, *, envelope_recipient: str):
        raise NotImplementedError

    def poll(self) -> str:
        """Read every unseen message of the IMAP mailbox; a line for the operator."""
        raise NotImplementedError

    def required_settings(self, *, imap: bool) -> list[tuple[object, str]]:
        """(value, what to set when it is empty) pairs checked before anything is read."""
        return []

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
        for value, advice in self.required_settings(imap=imap):
            if not value:
                raise CommandError(advice)
        if imap:
            self.stdout.write(self.poll())
            return
        raw = sys.stdin.buffer.read()
        if not raw.strip():
            raise CommandError("No message on standard input.")
        try:
            outcome = self.process_message(raw, envelope_recipient=recipient)
        except DatabaseError as error:
            # Exit 75 so the mail server keeps the message and tries again.
            self.stderr.write(f"Database unavailable, try again later: {error}")
            sys.exit(EX_TEMPFAIL)
        delivery = f" (delivery {outcome.delivery_id})" if outcome.delivery_id else ""
        self.stdout.write(f"{outcome.verdict}{delivery}")
