"""A real Celery worker consuming the real Redis broker, writing to the test database."""

import os
import time

import pytest
from django.db import connection

from delivery.models import OutboxMessage
from delivery.tasks import send_test_message
from tests.integration.processes import Process

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(tmp_path, redis_client):
    database = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
    }
    process = Process(
        ["celery", "-A", "newsletter", "worker", "--concurrency", "1", "--hostname", "test@%h"],
        env,
        tmp_path / "worker.log",
    )
    process.wait_for_output("ready.")
    yield process
    process.stop()


def test_worker_consumes_both_queues(worker):
    assert ".> default" in worker.output()
    assert ".> send" in worker.output()


def test_test_message_goes_through_the_send_queue_and_the_worker_to_the_outbox(worker):
    send_test_message.delay("ops@example.org", "ada")
    deadline = time.monotonic() + 30
    while not OutboxMessage.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    stored = OutboxMessage.objects.get()
    assert stored.recipients == ["ops@example.org"]
    assert "delivery.tasks.send_test_message" in worker.output()
