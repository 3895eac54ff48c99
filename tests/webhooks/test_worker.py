import json

import pytest
from django.db import connection

from subscribers import services as subscribers
from subscribers.models import ConsentSource
from tests.conftest import start_worker, wait_for
from tests.factories import MailingListFactory, NewsletterFactory
from webhooks import services, signing
from webhooks.events import Event
from webhooks.models import OutcomeStatus, WebhookDelivery


@pytest.mark.integration
def test_a_real_worker_posts_the_event_after_a_retry(
    tmp_path, redis_client, transactional_db, receiver
):
    receiver.statuses = [500]
    newsletter = NewsletterFactory(slug="proj")
    news = MailingListFactory(newsletter=newsletter, slug="news")
    endpoint = services.endpoint_create(
        newsletter=newsletter, url=receiver.url, events=[Event.SUBSCRIBED]
    )
    process = start_worker(
        tmp_path / "worker.log", CRIER_WEBHOOKS_ALLOW_PRIVATE="1", CRIER_WEBHOOKS_ALLOW_HTTP="1"
    )
    try:
        subscribers.subscribe(
            newsletter=newsletter,
            email="ada@example.org",
            lists=[news],
            source=ConsentSource.FORM,
            wording="Yes.",
        )
        row = WebhookDelivery.objects.get()
        wait_for(lambda: len(receiver.requests) == 1)
        wait_for(lambda: WebhookDelivery.objects.get().attempts == 1 and row.attempt_log.exists())
        # Beat's job, run here at once instead of waiting for the backoff.
        WebhookDelivery.objects.filter(pk=row.pk).update(next_attempt_at=row.created_at)
        services.redispatch_due()
        wait_for(lambda: WebhookDelivery.objects.get().status == OutcomeStatus.SUCCEEDED)
    finally:
        process.stop()
        connection.close()
    second = receiver.requests[1]
    assert json.loads(second.body)["data"]["subscriber"]["email"] == "ada@example.org"
    assert signing.verify(
        secret=endpoint.secret, body=second.body, header=second.headers["Crier-Signature"]
    )
