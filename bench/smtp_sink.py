"""A counting SMTP sink for the send benchmark, run in its own process (pinned by taskset).

A minimal asyncio server speaking just enough SMTP (EHLO/HELO, MAIL, RCPT, DATA,
RSET, NOOP, QUIT) to accept every message and count each recipient; the message
end is found with ``bytes.find``, so one CPU can take thousands of 50 KB messages a
second. (aiosmtpd, used by the tests, tops out near 300 a second here: a sink that
slow would measure itself, not the sender.) On SIGTERM it writes the counts as
JSON to the file named on the command line.
"""

import asyncio
import json
import signal
import sys
from collections import Counter

END_OF_DATA = b"\r\n.\r\n"


class Session(asyncio.Protocol):
    def __init__(self, counts: Counter, totals: dict) -> None:
        self.counts = counts
        self.totals = totals
        self.buffer = b""
        self.in_data = False
        self.recipients: list[str] = []

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(b"220 bench sink ready\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            if self.in_data:
                end = self.buffer.find(END_OF_DATA)
                if end < 0:
                    return
                self.buffer = self.buffer[end + len(END_OF_DATA) :]
                self.in_data = False
                self.counts.update(self.recipients)
                self.totals["messages"] += 1
                self.recipients = []
                self.transport.write(b"250 OK\r\n")
                continue
            end = self.buffer.find(b"\r\n")
            if end < 0:
                return
            line, self.buffer = self.buffer[:end], self.buffer[end + 2 :]
            self.command(line)

    def command(self, line: bytes) -> None:
        verb = line[:4].upper()
        if verb in (b"EHLO", b"HELO"):
            self.transport.write(b"250-bench\r\n250 8BITMIME\r\n")
        elif verb == b"RCPT":
            address = line.split(b":", 1)[1].strip().strip(b"<>").split(b">")[0]
            self.recipients.append(address.decode())
            self.transport.write(b"250 OK\r\n")
        elif verb == b"DATA":
            self.in_data = True
            # A message may end right after DATA's own line: look for "\r\n.\r\n".
            self.buffer = b"\r\n" + self.buffer
            self.transport.write(b"354 go ahead\r\n")
        elif verb == b"QUIT":
            self.transport.write(b"221 bye\r\n")
            self.transport.close()
        elif verb == b"RSET":
            self.recipients = []
            self.transport.write(b"250 OK\r\n")
        else:  # MAIL, NOOP
            self.transport.write(b"250 OK\r\n")


async def serve(port: int, out: str) -> None:
    counts: Counter = Counter()
    totals = {"messages": 0}
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Session(counts, totals), "127.0.0.1", port)
    stopped = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopped.set)
    print("sink ready", flush=True)
    await stopped.wait()
    server.close()
    with open(out, "w") as file:
        json.dump({"messages": totals["messages"], "counts": counts}, file)


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), sys.argv[2]))
