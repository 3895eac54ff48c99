"""Recovery after a SIGKILLed worker (issue 14: resumes within 15 s).

Two Celery workers of one pool process each, and beat (so that the sweeper and the
silent workers' pass run on their real schedules), send a campaign of
BENCH_RECOVERY_RECIPIENTS (default 5,001) to Postfix's ``smtp-sink``. The same campaign
is sent twice in the same run: once with no fault, once with one of the two workers
killed (SIGKILL to its whole process group) when a fifth of the campaign is sent, and
a new one started in its place at once, as a supervisor would.

Reported: ``recovery_seconds`` (send to "sent" with the kill),
``recovery_baseline_seconds`` (without), ``recovery_resume_seconds`` (from the kill
until no row is held by the dead worker any more: what the lease used to make wait),
and the faulted run's duplicates and missing recipients (from the sink's log) and
uncertain rows (from the ledger).

Run alone (``make bench ONLY=recovery``) it builds its own small audience in a database
of its own (``BENCH_RECOVERY_DATABASE_URL``, default ``crier_bench_recovery``; Redis
database 13); the send benchmark also reports these keys, on its own audience.
"""

import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from bench import database

NAME = "recovery"
ROOT = Path(__file__).resolve().parents[1]
RECIPIENTS = int(os.environ.get("BENCH_RECOVERY_RECIPIENTS", "5001"))
KILL_AT = 0.2  # the share of the campaign sent when the doomed worker is killed


def environment() -> dict[str, str]:
    """The send benchmark's settings, in a database and Redis database of its own."""
    from bench import send

    return {
        **send.environment(),
        "DATABASE_URL": database.database_url(
            "BENCH_RECOVERY_DATABASE_URL", "crier_bench_recovery"
        ),
        "REDIS_URL": database.redis_url(13),
    }


def run() -> dict:
    from bench import send

    database.configure(environment())
    send.prepare_database()
    subscribers(RECIPIENTS)
    result = {"bench": NAME, "recipients": RECIPIENTS, **measure()}
    result["load_average"] = [round(load, 1) for load in os.getloadavg()]
    return result


def subscribers(count: int) -> None:
    """``count`` confirmed subscribers of the newsletter ``bench``, loaded with COPY."""
    from django.db import connection

    database.copy_subscribers(database.bench_newsletter(), count)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def recovery_list() -> int:
    """A list of the newsletter's first RECIPIENTS subscribers; returns its id."""
    from django.db import connection

    from newsletter.models import Newsletter
    from subscribers.models import MailingList

    newsletter = Newsletter.objects.get(slug=database.BENCH_NEWSLETTER)
    mailing_list = MailingList.objects.create(
        newsletter=newsletter, name="Recovery", slug="recovery"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO subscribers_subscription "
            "(subscriber_id, mailing_list_id, newsletter_id, status, created_at, confirmed_at) "
            "SELECT id, %s, %s, 'confirmed', now(), now() FROM subscribers_subscriber "
            "WHERE newsletter_id = %s ORDER BY id LIMIT %s",
            [mailing_list.pk, newsletter.pk, newsletter.pk, RECIPIENTS],
        )
        assert cursor.rowcount == RECIPIENTS, cursor.rowcount
    return mailing_list.pk


def measure() -> dict:
    list_id = recovery_list()
    baseline, _, _ = send_once(list_id, kill=False)
    seconds, resumed, faults = send_once(list_id, kill=True)
    return {
        "recovery_seconds": round(seconds, 1),
        "recovery_baseline_seconds": round(baseline, 1),
        "recovery_resume_seconds": round(resumed, 1),
        **{f"recovery_{key}": value for key, value in faults.items()},
    }


def celery(arguments: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [str(ROOT / ".venv/bin/celery"), "-A", "newsletter", *arguments, "--loglevel", "WARNING"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def send_once(list_id: int, *, kill: bool) -> tuple[float, float, dict]:
    """One send to the list by two workers and beat; with ``kill``, one worker dies.

    Returns the seconds to "sent", the seconds from the kill until the dead worker's
    rows were all taken back (0 without a kill), and duplicates, missing and uncertain.
    """
    import redis

    from bench.send import Sink, campaign, group_pids
    from campaigns.models import Campaign, Status
    from delivery import lifecycle
    from delivery.models import Delivery, DeliveryStatus, WorkerHeartbeat
    from delivery.progress import campaign_progress

    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    sink = Sink()
    env = {**os.environ, "EMAIL_PORT": str(sink.port), "CRIER_SEND_PARALLELISM": "2"}
    schedule = tempfile.mkdtemp(prefix="crier-beat-")
    queues = ["-Q", "send,default", "--concurrency", "1"]
    processes = {
        "doomed": celery(["worker", "--hostname", "doomed@%h", *queues], env),
        "survivor": celery(["worker", "--hostname", "survivor@%h", *queues], env),
        "beat": celery(["beat", "--schedule", f"{schedule}/schedule"], env),
    }
    resumed = 0.0
    try:
        time.sleep(5)  # let the pools start before the clock does
        sent = campaign(list_id)
        done = Campaign.objects.filter(pk=sent.pk, status=Status.SENT)
        started = time.perf_counter()
        lifecycle.campaign_start(campaign=sent)
        if kill:
            rows = Delivery.objects.filter(campaign=sent)
            while rows.filter(status=DeliveryStatus.SENT).count() < RECIPIENTS * KILL_AT:
                time.sleep(0.05)
            doomed = processes["doomed"]
            names = list(
                WorkerHeartbeat.objects.filter(pid__in=group_pids(doomed.pid)).values_list(
                    "worker", flat=True
                )
            )
            assert names, "the doomed worker was running no send task"
            os.killpg(doomed.pid, signal.SIGKILL)
            killed = time.perf_counter()
            # Restarted at once, as a supervisor (compose's restart policy) would.
            processes["restarted"] = celery(["worker", "--hostname", "restarted@%h", *queues], env)
            held = rows.filter(
                worker__in=names, status__in=(DeliveryStatus.CLAIMED, DeliveryStatus.IN_FLIGHT)
            )
            while held.exists():
                time.sleep(0.1)
            resumed = time.perf_counter() - killed
        while not done.exists():
            time.sleep(0.2)
            if time.perf_counter() - started > 900:
                raise TimeoutError(campaign_progress(campaign=sent))
        seconds = time.perf_counter() - started
        uncertain = set(
            Delivery.objects.filter(campaign=sent, status=DeliveryStatus.UNCERTAIN).values_list(
                "subscriber__email", flat=True
            )
        )
    finally:
        for process in processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(60)
    counts = sink.stop()
    expected = {f"reader{n}@example.org" for n in range(RECIPIENTS)}
    faults = {
        "duplicates": sum(count - 1 for count in counts.values() if count > 1),
        # An uncertain row's recipient may have had the message or not: not counted missing.
        "missing": len(expected - set(counts) - uncertain),
        "uncertain": len(uncertain),
    }
    return seconds, resumed, faults
