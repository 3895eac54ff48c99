"""CSV import: a generated file with 1% bad rows through ``manage.py import_subscribers``.

The import runs in a child process on its own database (``BENCH_DATABASE_URL``,
default ``crier_bench_import`` beside ``DATABASE_URL``'s server), recreated each run so
every run does the same work. Peak RSS is the child's, measured at two file sizes
to show it stays flat. Afterwards every good address must be on the list exactly
once and every bad line reported. The ceiling, just before the import on the same
empty tables: a bare COPY of the same file into them (``ceiling``); ``ratio`` is the
import's rows per second over the ceiling's.
"""

import csv
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path

import psycopg

from bench import database

NAME = "import"
ROOT = Path(__file__).resolve().parent.parent
ROWS = int(os.environ.get("BENCH_IMPORT_ROWS", "1000000"))
SMALL_ROWS = ROWS // 10
BAD_EVERY = 100  # 1% bad rows
CEILING_CHUNK_ROWS = 25_000


def _manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True
    )


def generate(path: Path, rows: int) -> set[int]:
    """Write ``rows`` data rows; return the line numbers of the bad ones."""
    bad = set()
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["email", "name", "city", "plan"])
        for index in range(rows):
            line = index + 2
            if index % BAD_EVERY == BAD_EVERY - 1:
                bad.add(line)
                writer.writerow([f"broken{index}.example.org", f"Bad {index}", "", ""])
            else:
                writer.writerow(
                    [f"Person.{index}@Example{index % 50}.org", f"Person {index}", "Lyon", "free"]
                )
    return bad


def _import(env: dict[str, str], path: Path, list_slug: str) -> tuple[float, float]:
    """Run the command in a child process; return (seconds, peak RSS in MB)."""
    start = time.perf_counter()
    process = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "import_subscribers",
            str(path),
            "--newsletter",
            "bench",
            "--list",
            list_slug,
            "--consent",
            "Benchmark rows, consent attested by the bench.",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, _, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if process.returncode not in (None, 0) or usage is None:
        raise RuntimeError(process.stderr.read().decode())
    return seconds, usage.ru_maxrss / 1024


def _verify(url: str, list_slug: str, rows: int, bad_lines: set[int]) -> dict:
    with psycopg.connect(url) as connection:
        list_id, batch_id = connection.execute(
            "SELECT l.id, b.id FROM subscribers_mailinglist l"
            " JOIN subscribers_importbatch b ON b.mailing_list_id = l.id WHERE l.slug = %s",
            [list_slug],
        ).fetchone()
        present = connection.execute(
            "SELECT count(DISTINCT s.id) FROM subscribers_subscription sub"
            " JOIN subscribers_subscriber s ON s.id = sub.subscriber_id"
            " WHERE sub.mailing_list_id = %s AND sub.status = 'confirmed'",
            [list_id],
        ).fetchone()[0]
        duplicates = connection.execute(
            "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n"
            " FROM subscribers_consentevent WHERE mailing_list_id = %s"
            " GROUP BY subscriber_id HAVING count(*) > 1) d",
            [list_id],
        ).fetchone()[0]
        reported = {
            line
            for (line,) in connection.execute(
                "SELECT line FROM subscribers_importproblem WHERE batch_id = %s", [batch_id]
            )
        }
    good = rows - len(bad_lines)
    return {
        "missing": max(good - present, 0) + len(bad_lines - reported),
        "duplicates": int(duplicates) + max(present - good, 0),
        "bad_rows_reported": len(reported & bad_lines),
    }


def ceiling(url: str, path: Path, list_slug: str) -> float:
    """Seconds for a bare COPY of the file into the same three tables; the anchor.

    Every line becomes a person, a confirmed subscription and a consent event, with
    their indexes, constraints and foreign keys, as the import leaves them; nothing is
    validated, merged or deduplicated, ids are taken in one block from the sequences,
    and the event's hash is a counter, not a chain. Reading the CSV, the address
    digest and the attributes' JSON are the least any import must do, so they count.
    """
    with psycopg.connect(url) as connection:
        newsletter_id, list_id = connection.execute(
            "SELECT newsletter_id, id FROM subscribers_mailinglist WHERE slug = %s", [list_slug]
        ).fetchone()
        started = time.perf_counter()
        first = {
            table: connection.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" nextval(pg_get_serial_sequence('{table}', 'id')) + %s) - %s + 1",
                [ROWS, ROWS],
            ).fetchone()[0]
            for table in (
                "subscribers_subscriber",
                "subscribers_subscription",
                "subscribers_consentevent",
            )
        }
        stamp = "2026-11-23 00:00:00+00"
        with path.open(newline="") as stream:
            reader = csv.reader(stream)
            next(reader)
            n = 0
            while chunk := list(islice(reader, CEILING_CHUNK_ROWS)):
                people, subscriptions, events = [], [], []
                for email, name, city, plan in chunk:
                    key = hashlib.sha256(f"crier:{email.lower()}".encode()).hexdigest()
                    attributes = json.dumps({"city": city, "plan": plan})
                    person = first["subscribers_subscriber"] + n
                    people.append(
                        f"{person}\t{newsletter_id}\t{email}\t{name}\t{key}\t\t{attributes}"
                        f"\tactive\tf\t{stamp}\t{stamp}\n"
                    )
                    subscriptions.append(
                        f"{first['subscribers_subscription'] + n}\t{person}\t{list_id}"
                        f"\t{newsletter_id}\tconfirmed\t{stamp}\t{stamp}\n"
                    )
                    events.append(
                        f"{first['subscribers_consentevent'] + n}\t{n:064x}\t{person}"
                        f"\t{newsletter_id}\t{list_id}\timported\timport\tBench\t{{}}"
                        f"\t{email}\t\\N\t\t{key}\t\t\t{stamp}\t\n"
                    )
                    n += 1
                with connection.cursor() as cursor:
                    for statement, lines in (
                        (
                            "COPY subscribers_subscriber (id, newsletter_id, email, name,"
                            " email_digest, language, attributes, status, tracking_opt_out,"
                            " created_at, updated_at) FROM STDIN",
                            people,
                        ),
                        (
                            "COPY subscribers_subscription (id, subscriber_id, mailing_list_id,"
                            " newsletter_id, status, created_at, confirmed_at) FROM STDIN",
                            subscriptions,
                        ),
                        (
                            "COPY subscribers_consentevent (id, hash, subscriber_id,"
                            " newsletter_id, mailing_list_id, action, source, wording, details,"
                            " email, ip_address, user_agent, email_digest, ip_digest,"
                            " user_agent_digest, created_at, previous_hash) FROM STDIN",
                            events,
                        ),
                    ):
                        with cursor.copy(statement) as copy:
                            copy.write("".join(lines))
        connection.commit()
        seconds = time.perf_counter() - started
        copied = connection.execute(
            "SELECT count(*) FROM subscribers_subscription WHERE mailing_list_id = %s", [list_id]
        ).fetchone()[0]
    assert copied == ROWS, copied
    return seconds


def run() -> dict:
    url = database.database_url("BENCH_DATABASE_URL", "crier_bench_import")
    env = {**os.environ, **database.environment(url, redis_db=12)}
    database.recreate(url)
    _manage(env, "migrate", "--noinput")
    _manage(
        env,
        "shell",
        "-c",
        "from newsletter.models import Newsletter; from subscribers.models import MailingList\n"
        "n = Newsletter.objects.create(name='Bench', slug='bench', from_name='Bench',"
        " from_email='bench@example.org', postal_address='1 Bench Street')\n"
        "MailingList.objects.create(newsletter=n, name='Small', slug='small')\n"
        "MailingList.objects.create(newsletter=n, name='Large', slug='large')",
    )
    with tempfile.TemporaryDirectory() as folder:
        small = Path(folder) / "small.csv"
        generate(small, SMALL_ROWS)
        _, small_rss = _import(env, small, "small")
        _recreate_subscribers(url)
        large = Path(folder) / "large.csv"
        bad_lines = generate(large, ROWS)
        load_before = os.getloadavg()[0]
        ceiling_seconds = ceiling(url, large, "large")
        _recreate_subscribers(url)
        seconds, rss = _import(env, large, "large")
        load_after = os.getloadavg()[0]
        checks = _verify(url, "large", ROWS, bad_lines)
    rate = ROWS / seconds
    ceiling_rate = ROWS / ceiling_seconds
    return {
        "bench": NAME,
        "rows": ROWS,
        "seconds": round(seconds, 1),
        "rows_per_s": round(rate),
        "ceiling_rows_per_s": round(ceiling_rate),
        "ratio": round(rate / ceiling_rate, 2),
        "target_rows_per_s": 50000,
        "bad_rows": len(bad_lines),
        **checks,
        "peak_rss_mb": round(rss, 1),
        f"peak_rss_mb_at_{SMALL_ROWS}_rows": round(small_rss, 1),
        "cpus": os.cpu_count(),
        # The machine is shared: the 1-minute load average before and after the runs.
        "load_average": [round(load_before, 1), round(load_after, 1)],
    }


def _recreate_subscribers(url: str) -> None:
    """Empty what the small run wrote, so the large run starts from the same empty state."""
    with psycopg.connect(url) as connection:
        connection.execute(
            "TRUNCATE subscribers_consentevent, subscribers_subscription,"
            " subscribers_importproblem, subscribers_importchunk, subscribers_importbatch,"
            " subscribers_subscriber CASCADE"  # and what refers to people (participation)
        )
