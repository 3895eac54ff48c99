"""Fail fast, in one line, when PostgreSQL or Redis is not there (used by ``make test``)."""

import psycopg
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from newsletter import health


class Command(BaseCommand):
    help = "Check that the configured PostgreSQL server and Redis answer."

    def handle(self, *args, **options) -> None:
        problems = [problem for problem in (self._postgres(), self._redis()) if problem]
        if problems:
            raise CommandError(" ".join(problems))
        self.stdout.write("PostgreSQL and Redis are reachable.")

    def _postgres(self) -> str:
        if connection.vendor != "postgresql":
            return f"DATABASE_URL must point at PostgreSQL, not {connection.vendor}."
        # The server, not the database: the test runner creates its own database.
        params = {**connection.get_connection_params(), "dbname": "postgres", "connect_timeout": 3}
        params.pop("cursor_factory", None)
        try:
            psycopg.connect(**params).close()
        except psycopg.Error as error:
            host = f"{params.get('host') or 'localhost'}:{params.get('port') or 5432}"
            return f"PostgreSQL is unreachable at {host} ({health.reason(error)})."
        return ""

    def _redis(self) -> str:
        if not settings.REDIS_URL:
            return "REDIS_URL is not set."
        problem = health.probe_redis(settings.REDIS_URL)
        return f"Redis is unreachable at {settings.REDIS_URL} ({problem})." if problem else ""
