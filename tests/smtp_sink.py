"""A local SMTP server for tests and benchmarks: records what it accepts, refuses on cue."""

import socket
import threading
from collections import Counter
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller

from tests.conftest import free_port


@dataclass
class Received:
    sender: str
    recipients: list[str]
    data: bytes


@dataclass
class SinkHandler:
    received: list[Received] = field(default_factory=list)
    # Seconds to wait before accepting each message: lets a test act mid-send.
    delay: float = 0.0
    # recipient → SMTP reply to give at RCPT TO, e.g. "550 5.1.1 No such user".
    refuse: dict[str, str] = field(default_factory=dict)
    # The SMTP reply to give at the end of the data instead of accepting the message.
    refuse_data: str = ""
    # Advertise RFC 2920 PIPELINING (aiosmtpd reads pipelined commands either way).
    pipelining: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.refuse_data:
            return self.refuse_data
        with self.lock:
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content)
            )
        return "250 Message accepted for delivery"

    def recipients(self) -> list[str]:
        with self.lock:
            return [address for message in self.received for address in message.recipients]

    def counts(self) -> Counter:
        return Counter(self.recipients())


class SMTPSink:
    def __init__(self, *, pipelining: bool = False) -> None:
        self.handler = SinkHandler(pipelining=pipelining)
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> "SMTPSink":
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()


class DyingSMTPServer:
    """Answers the envelope, then drops the connection either before the data or after
    reading all of it without replying: the two ways a lost connection differ."""

    def __init__(self, *, after_data: bool) -> None:
        self.after_data = after_data
        self.port = free_port()
        self.listener = socket.create_server(("127.0.0.1", self.port))
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        client, _ = self.listener.accept()
        with client, client.makefile("rb") as lines:
            client.sendall(b"220 dying ESMTP\r\n")
            lines.readline()  # EHLO
            client.sendall(b"250-dying\r\n250 PIPELINING\r\n")
            for _ in range(3):  # MAIL, RCPT, DATA
                lines.readline()
            if not self.after_data:
                return
            client.sendall(b"250 OK\r\n250 OK\r\n354 Go on\r\n")
            while lines.readline() != b".\r\n":
                pass

    def close(self) -> None:
        self.thread.join(10)
        self.listener.close()
