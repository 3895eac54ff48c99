import os
import shutil
import socket
import time

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import translation

from tests.factories import UserFactory
from tests.integration.processes import Process, kill_leftovers

# Playwright's sync API runs an event loop in the test thread; the ORM calls the
# tests make around it are ordinary synchronous code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture
def redis_client():
    """The test Redis database, emptied before and after the test."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def staff_user(db):
    return UserFactory(username="staff", is_staff=True)


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright; never a downloaded browser."""
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (make test does).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture(autouse=True)
def empty_cache():
    """Rate-limit counters and other cached state must not leak from one test to the next."""
    cache.clear()


@pytest.fixture(autouse=True)
def no_language_left_active():
    """LocaleMiddleware leaves a request's language active in the thread: after a test
    client request in French, the next test's messages would be French too."""
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def no_process_outlives_its_test():
    """A test that fails before it kills or stops a process it started (a worker meant to
    die further down) must not leave it running: it would take the next tests' tasks."""
    yield
    kill_leftovers()


@pytest.fixture(autouse=True)
def outbox_backend(settings):
    """Django's test runner swaps in locmem mail; keep Crier's own default, the outbox."""
    settings.EMAIL_BACKEND = "delivery.backends.outbox.EmailBackend"


def start_worker(log, *, name: str = "test", concurrency: int = 1, **env: str) -> Process:
    """A real Celery worker process on the test Redis, writing to the test database."""
    database = connection.settings_dict
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": (
            f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/"
            f"{database['NAME']}"
        ),
        **env,
    }
    process = Process(
        [
            "celery",
            "-A",
            "newsletter",
            "worker",
            "--concurrency",
            str(concurrency),
            "--hostname",
            f"{name}@%h",
        ],
        environment,
        log,
    )
    process.wait_for_output("ready.")
    return process


@pytest.fixture
def worker(tmp_path, redis_client, transactional_db, live_server, settings):
    """A worker whose mail links point at the test's live server."""
    settings.SITE_URL = live_server.url
    process = start_worker(tmp_path / "worker.log", SITE_URL=live_server.url)
    yield process
    process.stop()


def wait_for(condition, timeout: float = 30, interval: float = 0.2):
    """Poll until ``condition()`` is truthy and return it; fail with a clear message."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)
    return result


@pytest.fixture
def smtp_sink(settings):
    """Django's SMTP backend pointed at a local sink; nothing leaves the machine."""
    from tests.smtp_sink import SMTPSink

    with SMTPSink() as sink:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST = "127.0.0.1"
        settings.EMAIL_PORT = sink.port
        settings.EMAIL_USE_TLS = False
        yield sink
