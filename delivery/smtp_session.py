"""One message over an open SMTP connection in as few round trips as the server allows.

smtplib's ``sendmail`` waits for a reply after each of MAIL, RCPT, DATA and the end of
the data: four round trips a message, each a wait for the server to be scheduled. A
server that advertises PIPELINING (RFC 2920; Postfix, Exim and the ESPs' SMTP endpoints
do) takes MAIL, RCPT and DATA in one write, answers the three at once, and then takes
the data: two round trips. Without it, the commands go in lockstep, as smtplib does.

The connection itself (EHLO, STARTTLS, AUTH) is smtplib's, opened by Django's SMTP
backend: this module only writes on its socket and reads with its reply parser, so the
TLS layer and the extensions it learnt stay the connection's.

Outcomes are smtplib's exceptions, so callers classify them as before: refusals carry
the server's code (4xx temporary, 5xx permanent); a connection lost before the end of
the data was written means nothing was handed over (``SMTPServerDisconnected``); one
lost after it, before the reply, is ``SMTPOutcomeUnknown``: the server may have
accepted the message, and sending it again could deliver it twice.
"""

import smtplib

# RFC 5321 4.1.1.4: the data ends with a line holding a single dot.
END_OF_DATA = b".\r\n"


class SMTPOutcomeUnknown(smtplib.SMTPServerDisconnected):
    """The whole message was written but no reply came: it may have been delivered."""


def dot_stuffed(message: bytes) -> bytes:
    """RFC 5321 4.5.2: a line starting with a dot gets one more. ``bytes.replace``
    does what smtplib's regular expression does, in a fraction of the time."""
    stuffed = message.replace(b"\r\n.", b"\r\n..")
    if stuffed.startswith(b"."):
        stuffed = b"." + stuffed
    if not stuffed.endswith(b"\r\n"):
        stuffed += b"\r\n"
    return stuffed


class SMTPSession:
    """An open smtplib connection used to send prebuilt messages, one recipient each.

    ``send`` is ``start`` then ``finish``. Apart, they let the caller do something
    while the server answers the envelope, e.g. commit that the message is in flight:
    an envelope hands nothing over (RFC 5321 3.3: a transaction without the end of its
    data is discarded), so it may go out before that commit; the data's end may not.
    """

    def __init__(self, connection: smtplib.SMTP) -> None:
        connection.ehlo_or_helo_if_needed()
        self.connection = connection
        self.pipelining = bool(connection.does_esmtp and connection.has_extn("pipelining"))
        self._envelope: tuple[bytes, bytes, str, str] | None = None
        self._replies_due = False

    def send(self, sender: str, recipient: str, message: bytes) -> None:
        """Hand one message to the server, or raise smtplib's exception for why not."""
        self.start(sender, recipient)
        self.finish(message)

    def start(self, sender: str, recipient: str) -> None:
        """Begin a message's transaction. With PIPELINING, MAIL, RCPT and DATA are
        written now and their replies read by ``finish``; otherwise both happen there."""
        # Both encoded before anything is written: no transaction is left half open.
        mail, rcpt = _command("mail FROM:", sender), _command("rcpt TO:", recipient)
        self._envelope = (mail, rcpt, sender, recipient)
        if self.pipelining:
            # RFC 2920 3.1: DATA ends the group; the client must see 354 before the data.
            self.connection.send(mail + rcpt + b"data\r\n")
            self._replies_due = True

    def finish(self, message: bytes) -> None:
        """The envelope's replies, then the data: the message is handed over, or this
        raises smtplib's exception for why not."""
        if self._envelope is None:
            raise RuntimeError("finish() needs a start(): no transaction is open.")
        if self._replies_due:
            self._pipelined_replies()
        else:
            self._lockstep_envelope()
        self._envelope = None
        self._data(message)

    def abandon(self) -> bool:
        """Drop a started transaction without handing anything over. Return whether the
        connection is still usable: a server that already said 354 is reading data, and
        only closing the connection ends that without delivering."""
        replies_due, self._replies_due, self._envelope = self._replies_due, False, None
        if not replies_due:
            return True
        replies = [self.connection.getreply() for _ in range(3)]
        if replies[2][0] == 354:
            self.connection.close()
            return False
        self._reset()
        return True

    def _pipelined_replies(self) -> None:
        connection = self.connection
        _, _, sender, recipient = self._envelope
        self._replies_due = False
        mailed, rcpted, data = connection.getreply(), connection.getreply(), connection.getreply()
        if mailed[0] == 250 and rcpted[0] in (250, 251) and data[0] == 354:
            return
        if data[0] == 354:
            # A server must refuse DATA when no recipient was accepted (RFC 2920 3.1);
            # one that does not gets an empty body, which it has no one to deliver to.
            connection.send(END_OF_DATA)
            connection.getreply()
        self._reset()
        if mailed[0] != 250:
            raise smtplib.SMTPSenderRefused(*mailed, sender)
        if rcpted[0] not in (250, 251):
            raise smtplib.SMTPRecipientsRefused({recipient: rcpted})
        raise smtplib.SMTPDataError(*data)

    def _lockstep_envelope(self) -> None:
        connection = self.connection
        mail, rcpt, sender, recipient = self._envelope
        connection.send(mail)
        code, reply = connection.getreply()
        if code != 250:
            self._reset()
            raise smtplib.SMTPSenderRefused(code, reply, sender)
        connection.send(rcpt)
        code, reply = connection.getreply()
        if code not in (250, 251):
            self._reset()
            raise smtplib.SMTPRecipientsRefused({recipient: (code, reply)})
        connection.send(b"data\r\n")
        code, reply = connection.getreply()
        if code != 354:
            self._reset()
            raise smtplib.SMTPDataError(code, reply)

    def _data(self, message: bytes) -> None:
        """The body and its end in one write; once all of it is out, a lost connection
        leaves the outcome unknown."""
        self.connection.send(dot_stuffed(message) + END_OF_DATA)
        try:
            code, reply = self.connection.getreply()
        except smtplib.SMTPServerDisconnected as lost:
            raise SMTPOutcomeUnknown(f"No reply after the end of the data: {lost}") from lost
        if code != 250:
            raise smtplib.SMTPDataError(code, reply)

    def _reset(self) -> None:
        """RSET after a refused envelope, so the next message starts a fresh transaction;
        a server that refuses even that is left to the next command to reveal."""
        self.connection.send(b"rset\r\n")
        self.connection.getreply()


def _command(verb: str, address: str) -> bytes:
    # smtplib's own spelling and quoting, ASCII only like its putcmd: a non-ASCII address
    # raises UnicodeEncodeError before anything is written, as it did through smtplib.
    return f"{verb}{smtplib.quoteaddr(address)}\r\n".encode("ascii")
