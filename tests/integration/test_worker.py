"""A real Celery worker consuming the real Redis broker, writing to the test database."""

import pytest

from delivery.models import OutboxMessage
from delivery.tasks import send_test_message
from tests.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_worker_consumes_both_queues(worker):
    assert ".> default" in worker.output()
    assert ".> send" in worker.output()


def test_test_message_goes_through_the_send_queue_and_the_worker_to_the_outbox(worker):
    send_test_message.delay("ops@example.org", "ada")
    stored = wait_for(OutboxMessage.objects.first)
    assert stored.recipients == ["ops@example.org"]
    assert "delivery.tasks.send_test_message" in worker.output()
