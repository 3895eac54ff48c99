"""The raw SMTP transmitter: prebuilt message bytes, one recipient each, over one open
connection, with the ledger's exactly-once order around every message.

Per message, in this order:

1. compose the bytes (``build_raw``);
2. write the envelope (MAIL, RCPT, DATA; one write when the server pipelines,
   ``delivery/smtp_session.py``) without waiting for the replies;
3. commit, in one statement, the previous message as ``sent`` and this one as
   ``in_flight`` (``ledger.Flight``): the server answers the envelope meanwhile;
4. read the envelope's replies, then write the data and its end, and wait for the
   final reply.

The envelope alone hands nothing over (RFC 5321 3.3: a transaction without the end of
its data is discarded, and a dropped connection discards it), so writing it before the
commit keeps the rule that a row is durably ``in_flight`` before the server can have
its message, and the commit's wait (an fsync) overlaps the envelope's round trip. A
killed process still leaves at most one row in flight. A row the ledger will not let
go (its lease expired and the sweeper gave it away) has its transaction abandoned,
which past a 354 means closing the connection and opening a new one.
"""

import logging
import smtplib
from typing import TYPE_CHECKING

from django.core.mail.backends.smtp import EmailBackend as SMTPBackend

from ..errors import outcome_unknown
from ..ledger import Flight, defer, record_call_failure, record_failure, release
from ..messages import Addressee, CampaignMessages
from ..smtp_session import SMTPSession

if TYPE_CHECKING:
    from .pipeline import Outcomes, Pace

logger = logging.getLogger(__name__)


def send_raw_smtp(
    messages: CampaignMessages,
    addressees: list[Addressee],
    backend: SMTPBackend,
    worker: str,
    pace: "Pace",
    outcomes: "Outcomes",
) -> bool:
    """Send each addressee their own message; return False when a quota is spent and
    the rest must wait (they are deferred), True otherwise."""
    if backend.connection is None:
        backend.open()
    session = SMTPSession(backend.connection)
    flight = Flight(worker)
    try:
        for index, addressee in enumerate(addressees):
            wait = pace.take([addressee])
            if wait:
                flight.flush()
                defer([a.delivery_id for a in addressees[index:]], worker, wait)
                return False
            try:
                message = messages.build_raw(addressee)
                session.start(messages.envelope_sender_for(addressee), addressee.email)
            except Exception as error:  # classified by the failure path
                if _failed(addressee, error, flight, worker, outcomes):
                    release([a.delivery_id for a in addressees[index + 1 :]], worker)
                    return True
                continue
            if not flight.take_off(addressee.delivery_id):
                session = _abandon(session, backend)
                if session is None:  # no new connection: the rest waits for one
                    release([a.delivery_id for a in addressees[index + 1 :]], worker)
                    return True
                continue
            try:
                session.finish(message)
            except Exception as error:  # classified by the failure path
                if _failed(addressee, error, flight, worker, outcomes):
                    release([a.delivery_id for a in addressees[index + 1 :]], worker)
                    return True
                continue
            flight.land(addressee.delivery_id, messages.message_id(addressee))
            outcomes.sent += 1
    finally:
        flight.flush()
    return True


def _failed(
    addressee: Addressee, error: Exception, flight: Flight, worker: str, outcomes: "Outcomes"
) -> bool:
    """Record why the message did not go; return whether the connection is gone."""
    flight.flush()
    if outcome_unknown(error):
        # The whole message went out and no reply came: it may have been delivered, so
        # it is never sent again without a person's choice (``uncertain``).
        record_call_failure([addressee], worker, error)
        return True
    reconnect, final = record_failure(addressee, worker, error)
    outcomes.failed += final
    return reconnect


def _abandon(session: SMTPSession, backend: SMTPBackend) -> SMTPSession | None:
    """Drop the started transaction; on a new connection when the server was already
    reading the data (only a closed connection ends that without delivering) or the
    connection failed meanwhile. None when no new connection could be opened."""
    try:
        if session.abandon():
            return session
    except (smtplib.SMTPException, OSError):
        logger.info("abandoning an SMTP transaction lost the connection", exc_info=True)
    try:
        backend.close()
        backend.open()
    except (smtplib.SMTPException, OSError):
        logger.warning("could not reopen the SMTP connection", exc_info=True)
        return None
    return SMTPSession(backend.connection)
