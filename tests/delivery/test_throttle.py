"""Shared limits in Redis: rolling hourly/daily quotas and per-second buckets."""

import math

import pytest

from delivery.throttle import Quota, Rate, Throttle


class Clock:
    """Stands in for the throttle module's ``time``: the test moves it, sleeps advance it."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now
        self.slept = 0.0

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept += seconds
        self.now += seconds


@pytest.fixture
def clock(monkeypatch, redis_client):
    clock = Clock()
    monkeypatch.setattr("delivery.throttle.time", clock)
    return clock


def test_an_hourly_quota_counts_in_a_rolling_window(clock):
    throttle = Throttle()
    hour = Quota("test:hour", limit=3, seconds=3600)
    assert throttle.reserve([hour], 2) == 0
    assert throttle.reserve([hour], 1) == 0
    wait = throttle.reserve([hour], 1)
    assert 3540 < wait <= 3600  # the first messages leave the window within its last slice

    clock.now += 1800  # half an hour later: still three in the last hour
    assert throttle.reserve([hour], 1) > 0
    clock.now += wait - 1800
    assert throttle.reserve([hour], 3) == 0


def test_quotas_take_all_or_nothing(clock):
    throttle = Throttle()
    hour = Quota("test:hour", limit=10, seconds=3600)
    day = Quota("test:day", limit=4, seconds=86400)
    assert throttle.reserve([hour, day], 4) == 0
    assert throttle.reserve([hour, day], 1) > 3600
    # The refused request counted nowhere: the hour still has room for six.
    assert throttle.reserve([hour], 6) == 0
    assert throttle.reserve([hour], 1) > 0


def test_more_than_a_quota_allows_at_once_is_never_possible(clock):
    assert Throttle().reserve([Quota("test:hour", limit=2, seconds=3600)], 3) == math.inf


def test_a_rate_spaces_messages_out(clock):
    throttle = Throttle()
    rate = Rate(per_second=2, burst=1)
    assert throttle.wait("test:rate", rate) == 0
    assert throttle.wait("test:rate", rate) == pytest.approx(0.5)
    assert throttle.wait("test:rate", rate, tokens=4) == pytest.approx(2.0)
    assert clock.slept == pytest.approx(2.5)
