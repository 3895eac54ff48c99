"""A local feed server (never the internet) and a newsletter that follows it."""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.factories import (
    LayoutFactory,
    MailingListFactory,
    NewsletterFactory,
    SubscriptionFactory,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "feeds"


class FeedServer:
    """Serves tests/fixtures/feeds; ``routes`` maps a path to another file (a feed that
    changes between runs), and a few paths misbehave on purpose."""

    def __init__(self) -> None:
        self.routes: dict[str, str] = {}
        self.hits: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits.append(self.path)
                if self.path == "/slow.rss":
                    time.sleep(3)
                if self.path == "/large.rss":
                    return self._reply(200, b"<rss>" + b" " * 300_000 + b"</rss>")
                if self.path.startswith("/moved/"):
                    self.send_response(302)
                    self.send_header("Location", "/" + self.path.removeprefix("/moved/"))
                    self.end_headers()
                    return None
                name = server.routes.get(self.path, self.path.lstrip("/"))
                path = FIXTURES / name
                if not path.is_file():
                    return self._reply(404, b"not found")
                return self._reply(200, path.read_bytes())

            def _reply(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def feed_server(settings):
    """The local server, with the guard opened for it as an admin would for an intranet."""
    settings.FEEDS_ALLOW_PRIVATE = True
    settings.FEEDS_ALLOW_HTTP = True
    settings.FEEDS_TIMEOUT_SECONDS = 1
    server = FeedServer()
    yield server
    server.close()


@pytest.fixture
def newsletter(db):
    return NewsletterFactory(slug="demo", name="Demo News")


@pytest.fixture
def layout(newsletter):
    return LayoutFactory(newsletter=newsletter, name="Release notes")


@pytest.fixture
def releases(newsletter):
    """The releases list, with two confirmed readers."""
    mailing_list = MailingListFactory(newsletter=newsletter, slug="releases", name="Releases")
    SubscriptionFactory.create_batch(2, mailing_list=mailing_list)
    return mailing_list
