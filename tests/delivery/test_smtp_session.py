"""The raw path's SMTP client: pipelined where the server allows, lockstep elsewhere,
with the same outcomes either way (delivery/smtp_session.py)."""

import shutil
import smtplib

import pytest

from delivery.smtp_session import SMTPOutcomeUnknown, SMTPSession, dot_stuffed
from tests.smtp_sink import DyingSMTPServer, SMTPSink

MESSAGE = b"Subject: Hello\r\n\r\nA line.\r\n.A line that starts with a dot.\r\n..Two.\r\n"


class CountingSMTP(smtplib.SMTP):
    """smtplib's connection, counting the writes: one write then a wait for the replies
    is one round trip."""

    writes = 0

    def send(self, s):
        self.writes += 1
        return super().send(s)


@pytest.fixture(params=[True, False], ids=["pipelining", "lockstep"])
def sink(request):
    with SMTPSink(pipelining=request.param) as sink:
        yield sink


def session_to(port: int) -> SMTPSession:
    return SMTPSession(CountingSMTP("127.0.0.1", port, timeout=10))


def test_messages_arrive_whole_and_once_over_one_connection(sink):
    session = session_to(sink.port)
    for n in range(3):
        session.send("news@example.org", f"reader{n}@example.org", MESSAGE)
    session.connection.quit()

    assert session.pipelining is sink.handler.pipelining
    assert [(m.sender, m.recipients) for m in sink.handler.received] == [
        ("news@example.org", [f"reader{n}@example.org"]) for n in range(3)
    ]
    assert all(m.data == MESSAGE for m in sink.handler.received)


@pytest.mark.parametrize(("pipelining", "writes"), [(True, 2), (False, 4)])
def test_a_pipelining_server_gets_each_message_in_two_round_trips(pipelining, writes):
    with SMTPSink(pipelining=pipelining) as sink:
        session = session_to(sink.port)
        before = session.connection.writes
        session.send("news@example.org", "reader@example.org", MESSAGE)
        assert session.connection.writes - before == writes


@pytest.mark.parametrize("reply", ["550 5.1.1 No such user", "450 4.2.1 Try later"])
def test_a_refused_recipient_raises_its_code_and_the_next_message_still_goes(sink, reply):
    sink.handler.refuse["gone@example.org"] = reply
    session = session_to(sink.port)

    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        session.send("news@example.org", "gone@example.org", MESSAGE)
    session.send("news@example.org", "here@example.org", MESSAGE)

    code, _ = refused.value.recipients["gone@example.org"]
    assert code == int(reply[:3])
    assert sink.handler.recipients() == ["here@example.org"]


def test_refused_data_raises_its_code(sink):
    sink.handler.refuse_data = "554 5.7.1 Content rejected"
    session = session_to(sink.port)

    with pytest.raises(smtplib.SMTPDataError) as refused:
        session.send("news@example.org", "reader@example.org", MESSAGE)

    assert refused.value.smtp_code == 554
    assert sink.handler.received == []


def test_a_non_ascii_address_is_refused_before_anything_is_written(sink):
    session = session_to(sink.port)
    before = session.connection.writes

    with pytest.raises(UnicodeEncodeError):
        session.send("news@example.org", "rené@example.org", MESSAGE)

    assert session.connection.writes == before


@pytest.mark.parametrize("after_data", [True, False])
def test_a_connection_lost_after_the_data_leaves_the_outcome_unknown(after_data):
    server = DyingSMTPServer(after_data=after_data)
    session = session_to(server.port)
    try:
        with pytest.raises(smtplib.SMTPServerDisconnected) as lost:
            session.send("news@example.org", "reader@example.org", MESSAGE)
    finally:
        server.close()

    # Only once the end of the data is out may the server have the message.
    assert isinstance(lost.value, SMTPOutcomeUnknown) is after_data


def test_dot_stuffing_doubles_leading_dots_and_ends_the_last_line():
    assert dot_stuffed(b".a\r\n.b\r\nc") == b"..a\r\n..b\r\nc\r\n"
    assert dot_stuffed(b"a\r\n") == b"a\r\n"


@pytest.mark.skipif(
    not shutil.which("smtp-sink", path="/usr/sbin:/usr/bin"), reason="Postfix's smtp-sink"
)
def test_postfix_smtp_sink_takes_pipelined_messages(monkeypatch):
    from bench.send import Sink

    sink = Sink()
    try:
        session = session_to(sink.port)
        for n in range(20):
            session.send("news@example.org", f"reader{n}@example.org", MESSAGE)
        session.connection.quit()
    finally:
        counts = sink.stop()

    assert session.pipelining
    assert counts == {f"reader{n}@example.org": 1 for n in range(20)}


def test_an_abandoned_transaction_hands_nothing_over(sink):
    session = session_to(sink.port)
    session.start("news@example.org", "reader@example.org")

    usable = session.abandon()

    # Past a 354 only a closed connection ends the data without delivering.
    assert usable is not sink.handler.pipelining
    if not usable:
        session = session_to(sink.port)
    session.send("news@example.org", "next@example.org", MESSAGE)
    assert sink.handler.recipients() == ["next@example.org"]


def test_an_abandoned_refused_envelope_keeps_the_connection(sink):
    sink.handler.refuse["gone@example.org"] = "550 5.1.1 No such user"
    session = session_to(sink.port)
    session.start("news@example.org", "gone@example.org")

    assert session.abandon()
    session.send("news@example.org", "here@example.org", MESSAGE)
    assert sink.handler.recipients() == ["here@example.org"]


def test_finish_without_start_is_refused(sink):
    with pytest.raises(RuntimeError, match="start"):
        session_to(sink.port).finish(MESSAGE)
