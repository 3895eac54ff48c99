"""Fixed-window rate limits on the shared cache (Redis in production).

``cache.add`` then ``cache.incr`` is atomic on Redis, so every web process and
machine counts against the same limit. Losing Redis only resets the counters.
"""

import contextlib
import hashlib

from django.core.cache import cache


def hit(scope: str, key: str, *, limit: int, window_seconds: int) -> bool:
    """Count one attempt; return True while the attempts in this window are within limit."""
    return _count(_cache_key(scope, key), 1, window_seconds) <= limit


def take(scope: str, key: str, *, amount: int, limit: int, window_seconds: int) -> bool:
    """Take ``amount`` units of this window's ``limit`` if they all fit; else take none
    and return False (a refused request does not use up what is left)."""
    cache_key = _cache_key(scope, key)
    if _count(cache_key, amount, window_seconds) <= limit:
        return True
    with contextlib.suppress(ValueError):  # the window ended meanwhile: nothing to give back
        cache.decr(cache_key, amount)
    return False


def _cache_key(scope: str, key: str) -> str:
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"ratelimit:{scope}:{digest}"


def _count(cache_key: str, amount: int, window_seconds: int) -> int:
    cache.add(cache_key, 0, timeout=window_seconds)
    try:
        return cache.incr(cache_key, amount)
    except ValueError:
        cache.set(cache_key, amount, timeout=window_seconds)
        return amount
