"""Where hits wait between the endpoints and PostgreSQL.

The endpoints append one short record per hit and never touch PostgreSQL: under
the burst that follows a large send, a write per hit would be the bottleneck.
They do not even wait for Redis: each web process appends over a connection of
its own on which Redis sends no replies (``CLIENT REPLY OFF``), so a hit costs a
``send`` to the kernel, not a round trip (30 µs instead of 0.1 to 1 ms on a busy
host). Nothing is lost by not waiting: once ``send`` returns the bytes are the
kernel's, delivered even if the web process dies next; only Redis dying loses
them, as it would lose a list it had acknowledged but not yet saved.
The flush (``services.flush``, every few seconds from beat) takes the records in
batches. With Redis (production), a batch is the whole list renamed away in one
atomic step and named in a set until it has been counted, so a flush that dies
leaves it for the next one; each chunk counted is recorded in PostgreSQL
(``FlushedChunk``) in the same transaction as its counts, so nothing is counted
twice either. ``make run`` has a Redis of its own (``newsletter.embedded``): there is
no other buffer.
"""

import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

import redis
from django.conf import settings

HITS = "crier:tracking:hits"
BATCHES = "crier:tracking:batches"


@dataclass(frozen=True, slots=True)
class Chunk:
    batch: str
    index: int
    records: list[str]


class _Sender(threading.local):
    """This thread's connection that Redis never answers on, and the process it belongs to."""

    connection: redis.Connection | None = None
    pid: int = 0
    pool: redis.ConnectionPool | None = None


_sender = _Sender()


class RedisBuffer:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def push(self, record: str) -> None:
        """Append without waiting for Redis; a broken connection is replaced once."""
        try:
            self._connection().send_command("RPUSH", HITS, record)
        except (redis.ConnectionError, OSError):
            _sender.connection.disconnect()
            _sender.connection = None
            self._connection().send_command("RPUSH", HITS, record)

    def _connection(self) -> redis.Connection:
        pool = self.client.connection_pool
        if _sender.connection is None or _sender.pid != os.getpid() or _sender.pool is not pool:
            connection = pool.make_connection()
            connection.connect()
            connection.send_command("CLIENT", "REPLY", "OFF")
            _sender.connection, _sender.pid, _sender.pool = connection, os.getpid(), pool
        return _sender.connection

    def batches(self) -> list[str]:
        """Batches still to count, oldest first; the hits so far become a new one."""
        if self.client.exists(HITS):
            batch = f"{HITS}:{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
            pipe = self.client.pipeline(transaction=True)
            pipe.sadd(BATCHES, batch)
            pipe.rename(HITS, batch)
            # A concurrent flush may have renamed the list first: this batch is then empty.
            pipe.execute(raise_on_error=False)
        return sorted(raw.decode() for raw in self.client.smembers(BATCHES))

    def chunks(self, batch: str, size: int) -> Iterator[Chunk]:
        index = 0
        while records := self.client.lrange(batch, index * size, (index + 1) * size - 1):
            yield Chunk(batch, index, [record.decode() for record in records])
            index += 1

    def finish(self, batch: str) -> None:
        """Every chunk of the batch is counted: drop it."""
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(batch)
        pipe.srem(BATCHES, batch)
        pipe.execute()

    def pending(self) -> int:
        return self.client.llen(HITS) + sum(
            self.client.llen(batch) for batch in self.client.smembers(BATCHES)
        )


@cache
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)


def get_buffer() -> RedisBuffer:
    return RedisBuffer(_client(settings.REDIS_URL))
