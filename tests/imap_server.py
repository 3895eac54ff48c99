"""A local IMAP4 server that knows just what delivery/bounces.py asks of a mailbox."""

import re
import socketserver
import threading
from dataclasses import dataclass, field


@dataclass
class Mailbox:
    user: str
    password: str
    messages: dict[int, bytes] = field(default_factory=dict)
    flags: dict[int, set[str]] = field(default_factory=dict)

    def unseen(self) -> list[int]:
        return [uid for uid in self.messages if "\\Seen" not in self.flags.get(uid, set())]


class Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        mailbox: Mailbox = self.server.mailbox
        self.reply("* OK fake IMAP4rev1 ready")
        while line := self.rfile.readline().decode().rstrip("\r\n"):
            tag, command, *rest = line.split(" ", 2)
            arguments = rest[0] if rest else ""
            command = command.upper()
            if command == "UID":
                command, _, arguments = arguments.partition(" ")
                command = "UID " + command.upper()
            if command == "CAPABILITY":
                self.reply("* CAPABILITY IMAP4rev1")
            elif command == "LOGIN":
                user, password = (value.strip('"') for value in arguments.split(" ", 1))
                if (user, password) != (mailbox.user, mailbox.password):
                    self.reply(f"{tag} NO [AUTHENTICATIONFAILED] Invalid credentials")
                    continue
            elif command == "SELECT":
                self.reply(f"* {len(mailbox.messages)} EXISTS")
            elif command == "UID SEARCH":
                self.reply("* SEARCH " + " ".join(str(uid) for uid in mailbox.unseen()))
            elif command == "UID FETCH":
                uid = int(arguments.split(" ", 1)[0])
                body = mailbox.messages[uid]
                self.wfile.write(f"* {uid} FETCH (UID {uid} BODY[] {{{len(body)}}}\r\n".encode())
                self.wfile.write(body + b")\r\n")
            elif command == "UID STORE":
                uid = int(arguments.split(" ", 1)[0])
                mailbox.flags.setdefault(uid, set()).update(re.findall(r"\\\w+", arguments))
            elif command == "EXPUNGE":
                for uid, flags in list(mailbox.flags.items()):
                    if "\\Deleted" in flags:
                        mailbox.messages.pop(uid, None)
            elif command == "LOGOUT":
                self.reply("* BYE")
                self.reply(f"{tag} OK LOGOUT completed")
                return
            self.reply(f"{tag} OK {command} completed")

    def reply(self, text: str) -> None:
        self.wfile.write(text.encode() + b"\r\n")


class IMAPServer:
    def __init__(self, mailbox: Mailbox) -> None:
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.mailbox = mailbox
        self.port = self.server.server_address[1]

    def __enter__(self) -> "IMAPServer":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
