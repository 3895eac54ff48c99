"""Dependency probes shared by ``/healthz`` and ``manage.py check_services``.

Each probe answers within a few seconds and never raises: it returns why the
dependency is unreachable, or ``None``, so callers can say which one is down.
"""

import logging
from typing import Literal

import redis
from django.conf import settings
from django.db import connection
from kombu import Connection

logger = logging.getLogger(__name__)

State = Literal["ok", "down"]
TIMEOUT_SECONDS = 2


def reason(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def probe_db() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as error:
        return reason(error)
    return None


def probe_redis(url: str) -> str | None:
    try:
        with redis.Redis.from_url(
            url, socket_connect_timeout=TIMEOUT_SECONDS, socket_timeout=TIMEOUT_SECONDS
        ) as client:
            client.ping()
    except redis.RedisError as error:
        return reason(error)
    return None


def probe_broker() -> str | None:
    try:
        with Connection(
            settings.CELERY_BROKER_URL,
            transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS,
            connect_timeout=TIMEOUT_SECONDS,
        ) as broker:
            broker.ensure_connection(max_retries=1, timeout=TIMEOUT_SECONDS)
    except Exception as error:
        return reason(error)
    return None


def _state(dependency: str, problem: str | None) -> State:
    if problem is None:
        return "ok"
    logger.warning("dependency down", extra={"dependency": dependency, "reason": problem})
    return "down"


def check_all() -> dict[str, State]:
    return {
        "db": _state("db", probe_db()),
        "redis": _state("redis", probe_redis(settings.REDIS_URL)),
        "broker": _state("broker", probe_broker()),
    }


def is_healthy(states: dict[str, State]) -> bool:
    return all(state == "ok" for state in states.values())
