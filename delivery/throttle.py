"""Send rates shared by every worker on every machine: a token bucket in Redis.

One Lua script refills and takes tokens atomically, so N workers together never
exceed the rate. Without Redis (the embedded mode, one machine, the outbox) there
is nothing to share and no limit is applied. Losing Redis only resets the buckets.
"""

import time
from dataclasses import dataclass

import redis
from django.conf import settings

# KEYS[1] bucket; ARGV: rate per second, capacity, now (s), tokens wanted.
# Returns the seconds to wait before the tokens are available (0: taken now).
TAKE = """
local rate, capacity = tonumber(ARGV[1]), tonumber(ARGV[2])
local now, wanted = tonumber(ARGV[3]), tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= wanted then
  tokens = tokens - wanted
else
  wait = (wanted - tokens) / rate
  tokens = tokens - wanted
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', now)
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / rate) + 60)
return tostring(wait)
"""


@dataclass(frozen=True)
class Rate:
    per_second: float
    burst: int = 1

    @property
    def capacity(self) -> float:
        return max(float(self.burst), 1.0)


class Throttle:
    def __init__(self, url: str | None = None) -> None:
        url = settings.REDIS_URL if url is None else url
        self._client = redis.Redis.from_url(url) if url else None
        self._take = self._client.register_script(TAKE) if self._client else None

    def wait(self, key: str, rate: Rate | None, tokens: int = 1) -> float:
        """Block until ``tokens`` may be spent under ``rate``; return the seconds waited."""
        if rate is None or rate.per_second <= 0 or self._take is None:
            return 0.0
        delay = float(
            self._take(
                keys=[f"crier:throttle:{key}"],
                args=[rate.per_second, rate.capacity, time.time(), tokens],
            )
        )
        if delay > 0:
            time.sleep(delay)
        return delay
