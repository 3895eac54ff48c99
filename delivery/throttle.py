"""Send rates shared by every worker on every machine: a token bucket and rolling-window
quotas in Redis.

One Lua script refills and takes tokens atomically, so N workers together never
exceed the rate. Hourly and daily quotas (an ESP's "50,000 per 24 hours") are
rolling windows counted in 60 slices: a message counts until its whole slice has
left the window, so the count errs on the safe side and a quota is never exceeded.
Losing Redis only resets the counts.
"""

import math
import time
from dataclasses import dataclass

import redis
from django.conf import settings

from .transports import Quota

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


# KEYS: one hash per window (slice number → messages); ARGV: now (s), messages wanted,
# then a limit and a length in seconds per window. All windows take the messages, or
# none does: returns 0, or the seconds until every window has room (-1: never, as
# more messages are wanted than a window allows).
RESERVE = """
local SLICES = 60
local now, wanted = tonumber(ARGV[1]), tonumber(ARGV[2])
local longest = 0
local current = {}
for i = 1, #KEYS do
  local limit, seconds = tonumber(ARGV[1 + 2 * i]), tonumber(ARGV[2 + 2 * i])
  local width = seconds / SLICES
  local slice = math.floor(now / width)
  current[i] = slice
  if wanted > limit then return "-1" end
  local stored = redis.call('HGETALL', KEYS[i])
  local live, used = {}, 0
  for j = 1, #stored, 2 do
    local at, count = tonumber(stored[j]), tonumber(stored[j + 1])
    if at > slice - SLICES then
      used = used + count
      table.insert(live, {at, count})
    else
      redis.call('HDEL', KEYS[i], stored[j])
    end
  end
  if used + wanted > limit then
    table.sort(live, function(a, b) return a[1] < b[1] end)
    local freed = 0
    for _, entry in ipairs(live) do
      freed = freed + entry[2]
      if used - freed + wanted <= limit then
        longest = math.max(longest, (entry[1] + SLICES) * width - now)
        break
      end
    end
  end
end
if longest > 0 then return tostring(longest) end
for i = 1, #KEYS do
  redis.call('HINCRBY', KEYS[i], current[i], wanted)
  redis.call('EXPIRE', KEYS[i], math.ceil(tonumber(ARGV[2 + 2 * i])) + 60)
end
return "0"
"""


@dataclass(frozen=True)
class Rate:
    per_second: float
    burst: int = 1

    @property
    def capacity(self) -> float:
        return max(float(self.burst), 1.0)


class Throttle:
    def __init__(self) -> None:
        client = redis.Redis.from_url(settings.REDIS_URL)
        self._take = client.register_script(TAKE)
        self._reserve = client.register_script(RESERVE)

    def wait(self, key: str, rate: Rate | None, tokens: int = 1) -> float:
        """Block until ``tokens`` may be spent under ``rate``; return the seconds waited."""
        if rate is None or rate.per_second <= 0:
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

    def reserve(self, quotas: list[Quota], messages: int = 1) -> float:
        """Count ``messages`` against every quota if all have room, and return 0; else
        count nothing and return the seconds until they would fit (``inf``: never)."""
        if not quotas:
            return 0.0
        args: list = [time.time(), messages]
        for quota in quotas:
            args += [quota.limit, quota.seconds]
        wait = float(
            self._reserve(keys=[f"crier:quota:{quota.name}" for quota in quotas], args=args)
        )
        return math.inf if wait < 0 else wait
