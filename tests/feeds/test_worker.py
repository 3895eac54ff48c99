"""A real Celery worker runs beat's feed task against the local feed server: the issue
is made and sent once to each reader, even when the task arrives twice."""

import pytest
from django.utils import timezone

from campaigns.models import Campaign, Status
from delivery.models import OutboxMessage
from feeds import services
from feeds.models import FeedAction
from feeds.tasks import run_due_feeds
from tests.conftest import start_worker, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def feed_worker(tmp_path, redis_client, live_server, settings, feed_server):
    settings.SITE_URL = live_server.url
    process = start_worker(
        tmp_path / "worker.log",
        SITE_URL=live_server.url,
        CRIER_FEEDS_ALLOW_PRIVATE="true",
        CRIER_FEEDS_ALLOW_HTTP="true",
    )
    yield process
    process.stop()


def test_a_due_feed_sends_its_issue_once_through_the_worker(
    feed_worker, feed_server, newsletter, layout, releases
):
    feed = services.feed_create(
        newsletter=newsletter,
        created_by=None,
        lists=[releases],
        name="Releases",
        url=f"{feed_server.url}/releases.rss",
        layout=layout,
        action=FeedAction.SEND,
    )
    type(feed).objects.filter(pk=feed.pk).update(next_run_at=timezone.now())
    run_due_feeds.delay()
    run_due_feeds.delay()  # the same tick twice, as a redelivered task would be

    issue = wait_for(lambda: Campaign.objects.filter(status=Status.SENT).first(), timeout=60)
    assert Campaign.objects.count() == 1
    assert issue.subject == "Demo releases: Demo 1.2.0"
    sent = sorted(
        address for message in OutboxMessage.objects.all() for address in message.recipients
    )
    assert sent == sorted(releases.subscriptions.values_list("subscriber__email", flat=True))
    assert "feeds.tasks.run_due_feeds" in feed_worker.output()
