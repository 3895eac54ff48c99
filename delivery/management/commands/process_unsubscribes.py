from django.conf import settings

from delivery import unsubscribe_mail
from delivery.management.mailbox_command import MailboxCommand


class Command(MailboxCommand):
    help = (
        "Process mail to the List-Unsubscribe address (CRIER_UNSUBSCRIBE_MAILTO): one "
        "message from standard input (a pipe from the mail server), or every unseen "
        "message of the IMAP mailbox configured by CRIER_UNSUBSCRIBE_IMAP_*."
    )

    def process_message(
        self, raw: bytes, *, envelope_recipient: str
    ) -> unsubscribe_mail.UnsubscribeOutcome:
        return unsubscribe_mail.process_message(raw, envelope_recipient=envelope_recipient)

    def poll(self) -> str:
        report = unsubscribe_mail.poll_imap()
        return f"{report.recorded} unsubscribe requests handled, {report.ignored} other messages"

    def required_settings(self, *, imap: bool) -> list[tuple[object, str]]:
        needed = [
            (
                settings.UNSUBSCRIBE_MAILTO,
                "Set CRIER_UNSUBSCRIBE_MAILTO: without it no message offers it.",
            )
        ]
        if imap:
            needed.append(
                (
                    settings.UNSUBSCRIBE_IMAP_HOST,
                    "Set CRIER_UNSUBSCRIBE_IMAP_HOST (and _USER, _PASSWORD) to poll IMAP.",
                )
            )
        return needed
