"""Fixed-window rate limits on the shared cache (Redis in production).

``cache.add`` then ``cache.incr`` is atomic on Redis, so every web process and
machine counts against the same limit. Losing Redis only resets the counters.
"""

import hashlib

from django.core.cache import cache


def hit(scope: str, key: str, *, limit: int, window_seconds: int) -> bool:
    """Count one attempt; return True while the attempts in this window are within limit."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    cache_key = f"ratelimit:{scope}:{digest}"
    cache.add(cache_key, 0, timeout=window_seconds)
    try:
        count = cache.incr(cache_key)
    except ValueError:
        cache.set(cache_key, 1, timeout=window_seconds)
        count = 1
    return count <= limit
