"""What the bounce and unsubscribe mailboxes share: addresses that name a delivery
under a signature, and an IMAP mailbox read one unseen message at a time.

A signed address is ``<local part>+<delivery id>-<mac>@<domain>``: lower case (some
servers fold the local part) and well under RFC 5321's 64 characters. The mac is
an HMAC of the id with ``SECRET_KEY`` under a salt per purpose (Django's
``salted_hmac``), so mail to a made-up address is recognised and ignored.
"""

import email.message
import imaplib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import getaddresses

from django.utils.crypto import constant_time_compare, salted_hmac

logger = logging.getLogger(__name__)

MAC_LENGTH = 16


@dataclass(frozen=True)
class SignedAddresses:
    salt: str
    local_part: str
    domain: str

    def _mac(self, delivery_id: int) -> str:
        return salted_hmac(self.salt, str(delivery_id)).hexdigest()[:MAC_LENGTH]

    def address(self, delivery_id: int) -> str:
        return f"{self.local_part}+{delivery_id}-{self._mac(delivery_id)}@{self.domain}"

    def delivery_of(self, address: str) -> int | None:
        """The delivery id an address names, if it is one of ours and its mac verifies."""
        pattern = (
            rf"{re.escape(self.local_part)}\+(\d{{1,19}})-([0-9a-f]{{{MAC_LENGTH}}})"
            rf"@{re.escape(self.domain)}"
        )
        found = re.fullmatch(pattern, address.strip().strip("<>"), flags=re.IGNORECASE)
        if found is None:
            return None
        delivery_id = int(found[1])
        return (
            delivery_id if constant_time_compare(found[2].lower(), self._mac(delivery_id)) else None
        )

    def delivery_addressed(
        self, message: email.message.Message, envelope_recipient: str, headers: tuple[str, ...]
    ) -> int | None:
        """The delivery the message was sent to: the envelope recipient first, then the
        first of ``headers`` that holds one of our signed addresses."""
        candidates = [envelope_recipient] if envelope_recipient else []
        for header in headers:
            candidates.extend(address for _, address in getaddresses(message.get_all(header, [])))
        for address in candidates:
            delivery_id = self.delivery_of(address)
            if delivery_id is not None:
                return delivery_id
        return None


@dataclass(frozen=True)
class ImapMailbox:
    host: str
    port: int
    user: str
    password: str
    folder: str
    ssl: bool


@dataclass
class PollReport:
    recorded: int = 0
    ignored: int = 0


def poll(mailbox: ImapMailbox, handle: Callable[[bytes], bool]) -> PollReport:
    """Hand every unseen message to ``handle``: True (acted on) deletes it, False marks
    it seen and leaves it for a person. A message whose handling raises stays unseen
    for the next poll, and the poll stops there (the database may be down)."""
    report = PollReport()
    client_class = imaplib.IMAP4_SSL if mailbox.ssl else imaplib.IMAP4
    with client_class(mailbox.host, mailbox.port, timeout=30) as imap:
        imap.login(mailbox.user, mailbox.password)
        imap.select(mailbox.folder)
        _, found = imap.uid("SEARCH", None, "UNSEEN")
        for uid in found[0].split():
            _, data = imap.uid("FETCH", uid, "(BODY.PEEK[])")
            raw = next(item[1] for item in data if isinstance(item, tuple))
            if handle(raw):
                imap.uid("STORE", uid, "+FLAGS", "(\\Deleted)")
                report.recorded += 1
            else:
                imap.uid("STORE", uid, "+FLAGS", "(\\Seen)")
                report.ignored += 1
        imap.expunge()
    return report
