"""Every benchmark finds, recreates and reuses its own database through bench/database.py."""

import psycopg
import pytest
from django.db import connection
from psycopg import sql

from bench import database
from tests.factories import NewsletterFactory


def _test_database_url(name: str | None = None) -> str:
    settings = connection.settings_dict
    password = f":{settings['PASSWORD']}" if settings["PASSWORD"] else ""
    host = f"{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}"
    return f"postgres://{settings['USER']}{password}@{host}/{name or settings['NAME']}"


@pytest.fixture
def scratch_url():
    """A database of the test server that no test uses; dropped afterwards."""
    url = _test_database_url(f"{connection.settings_dict['NAME']}_bench_scratch")
    yield url
    with psycopg.connect(_test_database_url("postgres"), autocommit=True) as server:
        name = url.rsplit("/", 1)[1]
        server.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def test_a_benchmark_variable_names_its_database_outright(monkeypatch):
    monkeypatch.setenv("BENCH_SEGMENTS_DATABASE_URL", "postgres://bench@db.example:6543/mine")
    monkeypatch.setenv("DATABASE_URL", "postgres://dev@127.0.0.1:5432/crier")

    assert (
        database.database_url("BENCH_SEGMENTS_DATABASE_URL", "crier_bench_segments")
        == "postgres://bench@db.example:6543/mine"
    )


def test_otherwise_its_own_name_sits_on_the_servers_of_database_url(monkeypatch):
    monkeypatch.delenv("BENCH_SEGMENTS_DATABASE_URL", raising=False)
    monkeypatch.setenv(
        "DATABASE_URL", "postgres://dev:secret@db.example:6543/crier?sslmode=require"
    )

    assert (
        database.database_url("BENCH_SEGMENTS_DATABASE_URL", "crier_bench_segments")
        == "postgres://dev:secret@db.example:6543/crier_bench_segments?sslmode=require"
    )
    monkeypatch.delenv("DATABASE_URL")
    assert database.database_url("BENCH_SEGMENTS_DATABASE_URL", "crier_bench_segments") == (
        "postgres://postgres@127.0.0.1:5432/crier_bench_segments"
    )


def test_each_benchmark_has_its_own_redis_database_on_one_server(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/3")  # the developer's: never used
    monkeypatch.delenv("BENCH_REDIS_URL", raising=False)
    assert database.redis_url(11) == "redis://127.0.0.1:6379/11"

    monkeypatch.setenv("BENCH_REDIS_URL", "redis://:pw@cache.example:6380/0")
    variables = database.environment("postgres://x@h/crier_bench", redis_db=10, LOG_LEVEL="INFO")

    assert variables["REDIS_URL"] == "redis://:pw@cache.example:6380/10"
    assert variables["DATABASE_URL"] == "postgres://x@h/crier_bench"
    assert variables["LOG_LEVEL"] == "INFO"
    assert variables["SECRET_KEY"] == "bench-only-secret-key"


def test_a_url_without_a_database_name_is_refused_before_anything_is_dropped():
    with pytest.raises(ValueError, match="names no database"):
        database.recreate("postgres://postgres@127.0.0.1:5432/")


@pytest.mark.django_db
def test_recreating_drops_what_the_database_held(scratch_url):
    database.recreate(scratch_url)
    with psycopg.connect(scratch_url) as scratch:
        scratch.execute("CREATE TABLE leftover (id int)")
    held_open = psycopg.connect(scratch_url)  # a run that crashed left a connection

    database.recreate(scratch_url)

    assert _is_dead(held_open)
    held_open.close()
    with psycopg.connect(scratch_url) as scratch:
        assert scratch.execute("SELECT to_regclass('leftover')").fetchone() == (None,)


def _is_dead(connection_: psycopg.Connection) -> bool:
    try:
        connection_.execute("SELECT 1")
    except psycopg.OperationalError:
        return True
    return False


@pytest.mark.django_db(transaction=True)
def test_a_data_set_is_reused_only_when_its_build_finished_at_the_same_size(monkeypatch):
    url = _test_database_url()
    monkeypatch.delenv("BENCH_X_REBUILD", raising=False)
    newsletter = NewsletterFactory(slug="bench", description="")
    assert not database.dataset_ready(url, "1000 people", rebuild_variable="BENCH_X_REBUILD")

    database.mark_ready("1000 people")

    newsletter.refresh_from_db()
    assert newsletter.description == "1000 people"
    assert database.dataset_ready(url, "1000 people", rebuild_variable="BENCH_X_REBUILD")
    assert not database.dataset_ready(url, "10 people", rebuild_variable="BENCH_X_REBUILD")
    monkeypatch.setenv("BENCH_X_REBUILD", "1")
    assert not database.dataset_ready(url, "1000 people", rebuild_variable="BENCH_X_REBUILD")


@pytest.mark.django_db
def test_no_data_set_in_a_missing_or_empty_database(scratch_url):
    assert not database.dataset_ready(scratch_url, "m", rebuild_variable="BENCH_X_REBUILD")
    database.recreate(scratch_url)
    assert not database.dataset_ready(scratch_url, "m", rebuild_variable="BENCH_X_REBUILD")


@pytest.mark.django_db
def test_marking_a_data_set_without_its_newsletter_fails_loudly():
    with pytest.raises(RuntimeError, match="incomplete"):
        database.mark_ready("1000 people")
