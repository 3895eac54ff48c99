"""Stage 5, transmit: hand messages to the server. Three strategies with one interface:
``calls`` groups the addressees into what one hand-over carries, and ``send`` hands one
call over and returns one ``Outcome`` per addressee. ``send`` never raises: an error is
every addressee's outcome, recorded by the one failure path (``record``).

- ``RawSmtp``: Django's SMTP backend; each message written as bytes over the open
  connection (``delivery/smtp_session.py``), one per call, pipelined when the server
  offers it (RFC 2920). Its envelope (MAIL, RCPT, DATA) is written by ``prepare``,
  before the row's take-off commits, and answered meanwhile: an envelope hands
  nothing over (a transaction is delivered only at the end of its data, and a
  dropped connection discards it); the data goes in ``send``, after the commit;
- ``OneByOne``: any other backend (an anymail ESP, the outbox), one message per call;
- ``EspBatch``: an ESP that takes many recipients per API call with merge data
  (``Transport.batches_calls``); readers whose copy differs in shape (untracked, text
  only) go through ``OneByOne`` first.
"""

import logging
import smtplib
from dataclasses import dataclass

from django.core.mail.backends.smtp import EmailBackend as SMTPBackend

from ..messages import Addressee, CampaignMessages, MergeTemplate
from ..smtp_session import SMTPSession
from ..transports import Transport

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What became of one addressee's message: sent (with the id the server knows it
    by), refused by an ESP that took the call, or an error (nothing known to be sent,
    or its answer lost: ``errors.classify`` and ``errors.outcome_unknown`` tell)."""

    addressee: Addressee
    message_id: str = ""
    refused: bool = False
    error: Exception | None = None


class Transmitter:
    """One message per call; ``batches`` when a call carries many (they go in flight
    together, ``ledger.take_off_all``, instead of one by one, ``ledger.Flight``)."""

    batches = False

    def __init__(self, messages: CampaignMessages, backend) -> None:
        self.messages = messages
        self.backend = backend

    def calls(self, addressees: list[Addressee]) -> list[list[Addressee]]:
        return [[addressee] for addressee in addressees]

    def prepare(self, call: list[Addressee]) -> list[Outcome]:
        """What may go out before the call's rows are in flight (nothing, by default);
        the outcomes of those that failed already, which are then not taken off."""
        return []

    def abandon(self) -> bool:
        """The prepared call's rows are no longer ours: drop what was prepared. Return
        whether the connection is still usable."""
        return True

    def send(self, call: list[Addressee]) -> list[Outcome]:
        (addressee,) = call
        try:
            message_id = self.hand_over(addressee)
        except Exception as error:  # classified when recorded; nothing is swallowed
            return [Outcome(addressee, error=error)]
        return [Outcome(addressee, message_id=message_id)]

    def hand_over(self, addressee: Addressee) -> str:
        raise NotImplementedError


class RawSmtp(Transmitter):
    def __init__(self, messages: CampaignMessages, backend) -> None:
        super().__init__(messages, backend)
        self.session: SMTPSession | None = None
        self.message = b""

    def prepare(self, call: list[Addressee]) -> list[Outcome]:
        (addressee,) = call
        try:
            if self.backend.connection is None:  # reopened after a dropped connection
                self.backend.open()
            if self.session is None or self.session.connection is not self.backend.connection:
                self.session = SMTPSession(self.backend.connection)
            self.message = self.messages.build_raw(addressee)
            self.session.start(self.messages.envelope_sender_for(addressee), addressee.email)
        except Exception as error:  # classified when recorded; nothing is swallowed
            return [Outcome(addressee, error=error)]
        return []

    def abandon(self) -> bool:
        """Past a 354 only a closed connection ends the data without delivering: then
        a new one is opened; False when it cannot be (the rest waits for one)."""
        try:
            if self.session.abandon():
                return True
        except (smtplib.SMTPException, OSError):
            logger.info("abandoning an SMTP transaction lost the connection", exc_info=True)
        try:
            self.backend.close()
            self.backend.open()
        except (smtplib.SMTPException, OSError):
            logger.warning("could not reopen the SMTP connection", exc_info=True)
            return False
        return True

    def hand_over(self, addressee: Addressee) -> str:
        self.session.finish(self.message)
        return self.messages.message_id(addressee)


class OneByOne(Transmitter):
    def hand_over(self, addressee: Addressee) -> str:
        message = self.messages.build(addressee)
        message.connection = self.backend
        message.send()
        return _esp_message_id(message)


class EspBatch(Transmitter):
    """Up to the ESP's per-call maximum of recipients per API call, each address once."""

    batches = True

    def __init__(self, template: MergeTemplate, backend, size: int) -> None:
        self.template = template
        self.backend = backend
        self.size = size

    def calls(self, addressees: list[Addressee]) -> list[list[Addressee]]:
        """Groups of at most ``size`` with each address once: the ESP keys merge data by
        address, so two subscribers sharing one go in different calls."""
        calls: list[list[Addressee]] = []
        seen: list[set[str]] = []
        for addressee in addressees:
            address = addressee.email.lower()
            for call, addresses in zip(calls, seen, strict=True):
                if len(call) < self.size and address not in addresses:
                    call.append(addressee)
                    addresses.add(address)
                    break
            else:
                calls.append([addressee])
                seen.append({address})
        return calls

    def send(self, call: list[Addressee]) -> list[Outcome]:
        """Each recipient as the ESP reported them: sent, or refused (rejected, invalid)."""
        message = self.template.build(call)
        message.connection = self.backend
        try:
            message.send()
        except Exception as error:  # the whole call: classified when recorded
            return [Outcome(addressee, error=error) for addressee in call]
        statuses = message.anymail_status.recipients
        outcomes = []
        for addressee in call:
            status = statuses.get(addressee.email)
            if status is not None and status.status in ("rejected", "invalid"):
                outcomes.append(Outcome(addressee, refused=True))
            else:
                message_id = str(getattr(status, "message_id", "") or "")[:255]
                outcomes.append(Outcome(addressee, message_id=message_id))
        return outcomes


def one_by_one(messages: CampaignMessages, backend) -> Transmitter:
    return (
        RawSmtp(messages, backend)
        if isinstance(backend, SMTPBackend)
        else OneByOne(messages, backend)
    )


def transmitters(
    messages: CampaignMessages, backend, transport: Transport, addressees: list[Addressee]
) -> list[tuple[Transmitter, list[Addressee]]]:
    """The strategies for these addressees, in order, each with its share."""
    template = (
        messages.merge_template(transport.merge_field_format) if transport.batches_calls else None
    )
    if template is None:  # no batch calls, or content that merge fields would garble
        return [(one_by_one(messages, backend), addressees)]
    shared, own = template.split(addressees)
    return [
        (one_by_one(messages, backend), own),
        (EspBatch(template, backend, transport.recipients_per_call), shared),
    ]


def _esp_message_id(message) -> str:
    status = getattr(message, "anymail_status", None)
    if status is not None and status.message_id:
        return str(status.message_id)
    return message.extra_headers.get("Message-ID", "")
