"""An experiment sent by real Celery workers to a local SMTP server: beat's decision run
twice at once by two worker processes, and a worker killed with SIGKILL while sending
the rest. The rest gets the winner exactly once; nobody gets two messages."""

import re
from collections import Counter
from datetime import timedelta
from email import message_from_bytes, policy

import pytest
from django.utils import timezone

from delivery import lifecycle
from delivery.models import Delivery, DeliveryStatus
from experiments import services, tasks
from experiments.models import Experiment, State
from tests.conftest import start_worker, wait_for

from .test_sending import assert_exactly_once, audience, sending, sink, sweep_until_sent

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

__all__ = ["sending", "sink"]  # fixtures


def subject(raw: bytes) -> str:
    return message_from_bytes(raw, policy=policy.default)["Subject"]


def test_the_rest_gets_the_winner_once_across_a_double_decision_and_a_kill(tmp_path, sending, sink):
    sink.handler.delay = 0.02
    campaign, emails = audience(100)
    services.experiment_save(
        campaign=campaign,
        metric="opens",
        sample_kind="count",
        sample_size=40,
        wait_hours=1,
        decision="automatic",
        variants=[services.VariantInput(subject="Short"), services.VariantInput(subject="Long")],
    )
    doomed = start_worker(tmp_path / "doomed.log", name="doomed", concurrency=2, **sending)
    try:
        lifecycle.campaign_start(campaign=campaign)
        sent = Delivery.objects.filter(status=DeliveryStatus.SENT)
        wait_for(lambda: sent.count() == 40, timeout=60)
        assert Delivery.objects.filter(status=DeliveryStatus.HELD).count() == 60

        # Time is up; beat's task reaches both pool processes at once.
        Experiment.objects.update(decide_at=timezone.now() - timedelta(seconds=1))
        tasks.decide_due.delay()
        tasks.decide_due.delay()
        done = re.compile(
            r"Task experiments\.tasks\.decide_due\[[^]]+\] succeeded in \S+: (\[\d*\])"
        )
        results = wait_for(lambda: len(found := done.findall(doomed.output())) == 2 and found)
        # One process decided; the other found it decided and changed nothing.
        assert sorted(results) == sorted(["[]", f"[{campaign.pk}]"])
        assert Experiment.objects.get().state == State.DECIDED

        wait_for(lambda: len(sink.handler.received) >= 60, interval=0.01)
    finally:
        doomed.kill()  # also when an assertion failed: no worker outlives the test
    survivor = start_worker(tmp_path / "survivor.log", name="survivor", **sending)
    try:
        sweep_until_sent(campaign)
    finally:
        survivor.stop()
    assert_exactly_once(sink, emails, killed_processes=2)
    subjects = Counter(subject(message.data) for message in sink.handler.received)
    # Nothing was counted, so the leader is A: the sample's 20 of each, then the rest A's
    # (but for a message that was in flight when its worker died, never resent).
    uncertain = Delivery.objects.filter(status=DeliveryStatus.UNCERTAIN).count()
    assert subjects["Long"] == 20
    assert 80 - uncertain <= subjects["Short"] <= 80
