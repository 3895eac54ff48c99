"""Fail fast, in one line, when PostgreSQL or Redis is not there (used by ``make test``)."""

import psycopg
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from psycopg import sql

from newsletter import health


class Command(BaseCommand):
    help = "Check that the configured PostgreSQL server and Redis answer."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--create-database",
            action="store_true",
            help="Create the database named in DATABASE_URL if it does not exist yet.",
        )

    def handle(self, *args, **options) -> None:
        problems = [
            problem
            for problem in (self._postgres(options["create_database"]), self._redis())
            if problem
        ]
        if problems:
            raise CommandError(" ".join(problems))
        self.stdout.write("PostgreSQL and Redis are reachable.")

    def _postgres(self, create_database: bool) -> str:
        # The server, not the database: the test runner creates its own database.
        params = {**connection.get_connection_params(), "dbname": "postgres", "connect_timeout": 3}
        params.pop("cursor_factory", None)
        try:
            with psycopg.connect(**params, autocommit=True) as server:
                if create_database:
                    self._create_database(server, connection.settings_dict["NAME"])
        except psycopg.Error as error:
            host = f"{params.get('host') or 'localhost'}:{params.get('port') or 5432}"
            return f"PostgreSQL is unreachable at {host} ({health.reason(error)})."
        return ""

    def _create_database(self, server: psycopg.Connection, name: str) -> None:
        exists = server.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            server.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            self.stdout.write(f"Created database {name}.")

    def _redis(self) -> str:
        problem = health.probe_redis(settings.REDIS_URL)
        return f"Redis is unreachable at {settings.REDIS_URL} ({problem})." if problem else ""
