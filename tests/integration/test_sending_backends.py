"""A campaign sent by real workers through a newsletter's own ESP backend (Mailgun, a fake
on 127.0.0.1) in batch calls, with the worker killed while a call is unanswered: the
call's rows end ``uncertain`` and are never resent; everyone else gets one message."""

import json
import threading
from collections import Counter

import pytest

from delivery import lifecycle, sending_backends
from delivery.models import BackendKind, Delivery, DeliveryStatus
from tests.conftest import start_worker, wait_for
from tests.fake_esp import FakeESP, Reply, default_reply
from tests.integration.test_sending import LEASE_SECONDS, audience, sweep_until_sent

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PER_CALL = 20


class StallThirdCall:
    """Answers at once, except the third call, which waits long past the worker's death."""

    def __init__(self) -> None:
        self.calls = 0
        self.stalled = threading.Event()

    def __call__(self, request):
        self.calls += 1
        if self.calls == 3:
            self.stalled.set()
            return Reply(200, {"id": "<stalled@mg>", "message": "Queued."}, delay=15)
        return default_reply(request)


def test_a_worker_killed_during_a_batch_call_leaves_that_call_uncertain(
    tmp_path, settings, redis_client
):
    settings.SEND_LEASE_SECONDS = LEASE_SECONDS
    settings.SENDING_ALLOW_PRIVATE_HOSTS = True  # the fake ESP listens on 127.0.0.1
    env = {"CRIER_SEND_LEASE_SECONDS": str(LEASE_SECONDS), "CRIER_SEND_PARALLELISM": "1"}
    campaign, emails = audience(100)
    stall = StallThirdCall()
    with FakeESP(reply=stall) as esp:
        sending_backends.sending_backend_save(
            newsletter=campaign.newsletter,
            values={
                "kind": BackendKind.MAILGUN,
                "active": True,
                "api_url": f"{esp.url}v3/",
                "batch_size": PER_CALL,
            },
            new_secrets={"api_key": "key-test"},
        )
        doomed = start_worker(tmp_path / "doomed.log", name="doomed", **env)
        lifecycle.campaign_start(campaign=campaign)
        wait_for(stall.stalled.is_set)
        wait_for(lambda: Delivery.objects.filter(status=DeliveryStatus.IN_FLIGHT).count())
        doomed.kill()
        survivor = start_worker(tmp_path / "survivor.log", name="survivor", **env)
        try:
            sweep_until_sent(campaign)
        finally:
            survivor.stop()

    calls = [json.loads(r.form()["recipient-variables"][0]) for r in esp.requests]
    assert all(len(call) <= PER_CALL for call in calls)
    received = Counter(address for call in calls for address in call)
    assert set(received) == set(emails)
    assert max(received.values()) == 1, "someone was sent the campaign twice"
    uncertain = set(
        Delivery.objects.filter(status=DeliveryStatus.UNCERTAIN).values_list(
            "subscriber__email", flat=True
        )
    )
    assert uncertain == set(calls[2])
    assert Delivery.objects.filter(status=DeliveryStatus.SENT).count() == 100 - len(uncertain)
