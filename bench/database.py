"""Each benchmark's own PostgreSQL database and Redis database, and its Django setup.

A benchmark drops and recreates what it measures in, so it never runs in the database
or Redis database a developer works in: by default its database is a name of its own
(``crier_bench``, ``crier_bench_segments``, …) on ``DATABASE_URL``'s server, and its
Redis database a number of its own on ``BENCH_REDIS_URL``'s server (default the local
one). Each benchmark keeps its own variable to point it elsewhere
(``BENCH_SEGMENTS_DATABASE_URL``, …).

The settings that shape what is measured (secret key, site URL, log level) are fixed
here rather than taken from the shell, so two runs on two machines measure the same
configuration. A data set that takes minutes to build is reused by later runs when
its newsletter ``bench`` carries the marker that the build wrote last, once finished:
a build cut short leaves no marker, and a marker for another size does not match.
"""

import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/crier"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
BENCH_NEWSLETTER = "bench"


def database_url(variable: str, name: str) -> str:
    """The URL in ``variable`` when set; otherwise database ``name`` on ``DATABASE_URL``'s
    server, with its user, password and query options."""
    if url := os.environ.get(variable):
        return url
    base = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    return urlsplit(base)._replace(path=f"/{name}").geturl()


def redis_url(db: int) -> str:
    """Redis database ``db`` on ``BENCH_REDIS_URL``'s server (the local one by default)."""
    base = os.environ.get("BENCH_REDIS_URL") or DEFAULT_REDIS_URL
    return urlsplit(base)._replace(path=f"/{db}").geturl()


def environment(database: str, *, redis_db: int, **overrides: str) -> dict[str, str]:
    """The variables a benchmark's Django process runs with (and its children inherit)."""
    return {
        "DATABASE_URL": database,
        "REDIS_URL": redis_url(redis_db),
        "SECRET_KEY": "bench-only-secret-key",
        "SITE_URL": "https://news.example.org",
        "ALLOWED_HOSTS": "testserver,127.0.0.1",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "newsletter.settings",
        **overrides,
    }


def configure(variables: dict[str, str]) -> None:
    """Set ``variables`` in this process and set Django up with them."""
    os.environ.update(variables)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _server_and_name(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name or "/" in name:
        raise ValueError(f"{url!r} names no database")
    return parts._replace(path="/postgres").geturl(), name


def recreate(url: str) -> None:
    """Drop the database at ``url`` (closing its connections) and create it empty."""
    import psycopg
    from psycopg import sql

    server, name = _server_and_name(url)
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def dataset_ready(url: str, marker: str, *, rebuild_variable: str) -> bool:
    """Whether ``url`` holds a finished data set marked ``marker`` (and ``rebuild_variable``
    does not ask for a new one). Asked before Django is set up: plain psycopg."""
    import psycopg

    if os.environ.get(rebuild_variable):
        return False
    server, name = _server_and_name(url)
    with psycopg.connect(server, autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
    if not exists:
        return False
    with psycopg.connect(url) as connection:
        try:
            found = connection.execute(
                "SELECT description FROM newsletter_newsletter WHERE slug = %s",
                [BENCH_NEWSLETTER],
            ).fetchone()
        except psycopg.errors.UndefinedTable:
            return False
    return found is not None and found[0] == marker


def bench_newsletter():
    """Create the newsletter ``bench`` a benchmark measures in (and whose description
    marks a finished data set)."""
    from newsletter.models import Newsletter

    return Newsletter.objects.create(
        name="Bench News",
        slug=BENCH_NEWSLETTER,
        from_name="Bench",
        from_email="news@example.org",
        postal_address="1 Example Street",
    )


def copy_subscribers(newsletter, count: int) -> None:
    """``count`` active subscribers of ``newsletter`` (``reader0@example.org`` on), loaded
    with COPY as an import would be; the caller vacuums once the rest is loaded."""
    import io

    from django.db import connection

    from subscribers.models import address_digest

    rows = io.StringIO()
    for n in range(count):
        email = f"reader{n}@example.org"
        rows.write(
            f"{newsletter.pk}\t{email}\tReader {n}\t{address_digest(email)}\t\t{{}}\tactive\tf\t"
            "2026-11-23 00:00:00+00\t2026-11-23 00:00:00+00\n"
        )
    rows.seek(0)
    with (
        connection.cursor() as cursor,
        cursor.copy(
            "COPY subscribers_subscriber (newsletter_id, email, name, email_digest, language, "
            "attributes, status, tracking_opt_out, created_at, updated_at) FROM STDIN"
        ) as copy,
    ):
        copy.write(rows.read())


def mark_ready(marker: str) -> None:
    """Mark the data set in the configured database finished; the build's last step."""
    from newsletter.models import Newsletter

    updated = Newsletter.objects.filter(slug=BENCH_NEWSLETTER).update(description=marker)
    if updated != 1:
        raise RuntimeError(f"no newsletter {BENCH_NEWSLETTER!r} to mark: the build is incomplete")
