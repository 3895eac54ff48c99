"""A local stand-in for an ESP's HTTP API: anymail's ``api_url`` points at it, so tests
see exactly what would be posted (auth, batch sizes, merge data) and choose the answer.
Nothing leaves 127.0.0.1."""

import email
import email.policy
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)

    def form(self) -> dict[str, list[str]]:
        """A form body (Mailgun's) as field → values."""
        if self.headers["Content-Type"] == "application/x-www-form-urlencoded":
            return parse_qs(self.body.decode(), keep_blank_values=True)
        head = f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode()
        parsed = email.message_from_bytes(head + self.body, policy=email.policy.HTTP)
        fields: dict[str, list[str]] = {}
        for part in parsed.iter_parts():
            name = part.get_param("name", header="content-disposition")
            fields.setdefault(name, []).append(part.get_content())
        return fields


@dataclass(frozen=True)
class Reply:
    status: int
    body: object = None
    delay: float = 0.0  # seconds before answering: longer than the client waits → timeout


def default_reply(request: Request) -> Reply:
    """What each ESP answers when all is well."""
    if request.path.endswith("/messages"):  # Mailgun
        return Reply(200, {"id": f"<{uuid.uuid4().hex}@mg.example>", "message": "Queued."})
    if request.path.endswith("/email"):  # Postmark
        to = request.json()["To"]
        return Reply(
            200, {"To": to, "MessageID": str(uuid.uuid4()), "ErrorCode": 0, "Message": "OK"}
        )
    if request.path.endswith("/mail/send"):  # SendGrid
        return Reply(202, None)
    if request.path == "/v2/email/outbound-emails":  # Amazon SES v2
        return Reply(200, {"MessageId": f"0102{uuid.uuid4().hex}-000000"})
    return Reply(404, {"message": "not a known endpoint"})


@dataclass
class FakeESP:
    requests: list[Request] = field(default_factory=list)
    # Replies given before the default ones, in order (e.g. a 429, then success).
    script: list[Reply] = field(default_factory=list)
    reply: Callable[[Request], Reply] = default_reply
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        esp = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                request = Request("POST", self.path, dict(self.headers), self.rfile.read(length))
                with esp.lock:
                    esp.requests.append(request)
                    answer = esp.script.pop(0) if esp.script else esp.reply(request)
                time.sleep(answer.delay)
                payload = b"" if answer.body is None else json.dumps(answer.body).encode()
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def __enter__(self) -> "FakeESP":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
