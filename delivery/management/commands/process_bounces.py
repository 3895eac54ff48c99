from django.conf import settings

from delivery import bounces
from delivery.management.mailbox_command import MailboxCommand


class Command(MailboxCommand):
    help = (
        "Process bounce mail for campaigns sent over SMTP: one message from standard input "
        "(a pipe from the mail server), or every unseen message of the IMAP mailbox "
        "configured by CRIER_BOUNCE_IMAP_*."
    )

    def process_message(self, raw: bytes, *, envelope_recipient: str) -> bounces.BounceOutcome:
        return bounces.process_message(raw, envelope_recipient=envelope_recipient)

    def poll(self) -> str:
        report = bounces.poll_imap()
        return f"{report.recorded} bounces recorded, {report.ignored} other messages"

    def required_settings(self, *, imap: bool) -> list[tuple[object, str]]:
        if not imap:
            return []
        return [
            (
                settings.BOUNCE_IMAP_HOST,
                "Set CRIER_BOUNCE_IMAP_HOST (and _USER, _PASSWORD) to poll IMAP.",
            )
        ]
