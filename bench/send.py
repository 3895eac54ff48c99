"""End-to-end campaign send through the real stack, against the machine's ceiling.

PostgreSQL, the Redis broker, real Celery worker processes and Django's SMTP
backend send a ~50 KB campaign to Postfix's C ``smtp-sink`` in its own process,
pinned to one CPU. The ceiling, measured in the same run against the same pinned
sink: plain smtplib sending one prebuilt message over as many connections as the
workers have processes. The sink logs its conversations; duplicates and missing
are counted from that log. Also measured: the time to create the delivery rows of
a 1,000,000-recipient campaign (the one ``INSERT … SELECT``) against the same
statement into an unindexed copy of the table, and the recovery after a SIGKILLed
worker (``bench/recovery.py``: ``recovery_*`` keys).

Environment: BENCH_SEND_RECIPIENTS (default 100000), BENCH_SEND_WORKERS (Celery
pool processes, default 2), BENCH_DATABASE_URL, BENCH_REDIS_URL.
"""

import multiprocessing
import os
import platform
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench import database

NAME = "send"
ROOT = Path(__file__).resolve().parents[1]
RECIPIENTS = int(os.environ.get("BENCH_SEND_RECIPIENTS", "100000"))
WORKERS = int(os.environ.get("BENCH_SEND_WORKERS", "2"))
# Fewer only while developing: the contract's figure is for 1,000,000.
ENQUEUE_RECIPIENTS = int(os.environ.get("BENCH_SEND_ENQUEUE", "1000000"))
SINK_CPU = "1"


def environment() -> dict[str, str]:
    return database.environment(
        database.database_url("BENCH_DATABASE_URL", "crier_bench"),
        redis_db=10,
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        CRIER_SEND_BATCH_SIZE="200",
        CRIER_SEND_PARALLELISM=str(WORKERS),
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sink_command() -> str:
    """Postfix's C ``smtp-sink`` (Debian ``postfix``), which ``make bench`` installs.

    A sink written in Python spends as much CPU per message as the sender's own
    protocol code, so the ceiling measured the sink as much as the sender.
    """
    found = shutil.which("smtp-sink") or shutil.which("smtp-sink", path="/usr/sbin:/sbin")
    if not found:
        raise SystemExit("the send benchmark needs smtp-sink: apt-get install postfix")
    return found


def received_counts(conversation: str) -> Counter:
    """Each recipient of a completed transaction in ``smtp-sink -v``'s log, counted.

    The log interleaves the sessions without naming them, so a recipient is counted
    at the first ``.`` (end of data) after its ``rcpt``; every message of a campaign
    has one recipient, and a transaction cut before its ``.`` leaves its recipient
    pending, to be counted only if it is sent again and completed.
    """
    counts: Counter = Counter()
    pending: list[str] = []
    for line in conversation.splitlines():
        _, _, said = line.partition(": ")
        if said[:9].lower() == "rcpt to:<":  # logged as the client wrote it
            pending.append(said[9:].split(">", 1)[0])
        elif said == "." and pending:
            counts[pending.pop(0)] += 1
    return counts


class Sink:
    """``smtp-sink`` on a free port, pinned to one CPU, its conversation logged to a file."""

    def __init__(self) -> None:
        self.port = free_port()
        self.log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed in stop())
        user = ["-u", "nobody"] if os.geteuid() == 0 else []  # it refuses to run as root
        self.process = subprocess.Popen(
            [
                *("taskset", "-c", SINK_CPU, sink_command(), *user, "-v"),
                *(f"127.0.0.1:{self.port}", "256"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise
                time.sleep(0.05)

    def stop(self) -> Counter:
        """Stop the sink; every recipient it received, with how many times."""
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(60)
        self.log.seek(0)
        counts = received_counts(self.log.read())
        self.log.close()
        return counts


def prepare_database() -> None:
    from django.core.management import call_command

    database.recreate(os.environ["DATABASE_URL"])

    call_command("migrate", verbosity=0)


def audience() -> tuple[int, int]:
    """1,000,000 confirmed subscribers on list "all"; the first RECIPIENTS also on "sent".

    Loaded with COPY, as an import would be; returns the two list ids.
    """
    from django.db import connection

    from subscribers.models import MailingList

    newsletter = database.bench_newsletter()
    everyone = MailingList.objects.create(newsletter=newsletter, name="All", slug="all")
    sent = MailingList.objects.create(newsletter=newsletter, name="Sent", slug="sent")
    database.copy_subscribers(newsletter, ENQUEUE_RECIPIENTS)
    with connection.cursor() as cursor:
        for mailing_list, limit in ((everyone, ENQUEUE_RECIPIENTS), (sent, RECIPIENTS)):
            cursor.execute(
                "INSERT INTO subscribers_subscription "
                "(subscriber_id, mailing_list_id, newsletter_id, status, created_at, "
                "confirmed_at) "
                "SELECT id, %s, %s, 'confirmed', now(), now() FROM subscribers_subscriber "
                "ORDER BY id LIMIT %s",
                [mailing_list.pk, newsletter.pk, limit],
            )
    # Loaded data has been vacuumed by autovacuum long before anyone sends to it.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return everyone.pk, sent.pk


def campaign(list_id: int):
    from bench.render import sample_body
    from campaigns.models import Layout
    from campaigns.rendering import DEFAULT_LAYOUTS
    from campaigns.services import campaign_create
    from newsletter.models import Newsletter

    newsletter = Newsletter.objects.get(slug="bench")
    stock = next(stock for stock in DEFAULT_LAYOUTS if stock.name == "Digest")
    layout, _ = Layout.objects.get_or_create(
        newsletter=newsletter, name="Digest", defaults={"mjml": stock.mjml()}
    )
    created = campaign_create(
        newsletter=newsletter,
        layout=layout,
        name=f"Bench {list_id}",
        subject="Bench digest",
        body=sample_body(),
        public=True,
        created_by=None,
    )
    created.lists.set([list_id])
    return created


BARE_TABLE = "bench_bare_delivery"


def enqueue_seconds(list_id: int) -> tuple[float, float]:
    """Seconds to create a 1,000,000-recipient campaign's delivery rows, and the anchor.

    The anchor is the very statement ``create_deliveries`` runs (the audience rule,
    the same rows, the same parameters), caught before it reaches PostgreSQL and run
    into a copy of the delivery table without any index or constraint: what remains
    above it is what the indexes and constraints cost. The anchor runs once unmeasured
    first, so that neither measured statement finds a colder cache than the other.
    """
    from django.db import connection

    from delivery.audience import create_deliveries
    from delivery.models import Delivery

    big = campaign(list_id)
    caught: list[tuple[str, object]] = []

    def catch(execute, sql, params, many, context):
        if sql.lstrip().startswith("INSERT INTO delivery_delivery"):
            caught.append((sql, params))
            return None
        return execute(sql, params, many, context)

    with connection.execute_wrapper(catch):
        create_deliveries(campaign=big)
    (sql, params), *others = caught
    assert not others, caught
    bare = sql.replace("INTO delivery_delivery", f"INTO {BARE_TABLE}", 1)
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE {BARE_TABLE}"
            " (LIKE delivery_delivery INCLUDING DEFAULTS INCLUDING IDENTITY)"
        )
        for _ in range(2):  # the first only warms the cache
            cursor.execute(f"TRUNCATE {BARE_TABLE}")
            started = time.perf_counter()
            cursor.execute(bare, params)
            bare_seconds = time.perf_counter() - started
            assert cursor.rowcount == ENQUEUE_RECIPIENTS, cursor.rowcount
        cursor.execute(f"DROP TABLE {BARE_TABLE}")
    started = time.perf_counter()
    created = create_deliveries(campaign=big)
    seconds = time.perf_counter() - started
    assert created == ENQUEUE_RECIPIENTS, created
    Delivery.objects.filter(campaign=big).delete()
    return seconds, bare_seconds


def prebuilt_message(sent) -> bytes:
    from campaigns.services import campaign_render
    from delivery.messages import Addressee, CampaignMessages

    builder = CampaignMessages(sent, campaign_render(campaign=sent))
    return builder.build_raw(Addressee(1, 1, "reader0@example.org", "Reader 0", {}, "Sent"))


def _ceiling_client(port: int, message: bytes, count: int, offset: int) -> None:
    with smtplib.SMTP("127.0.0.1", port) as client:
        for n in range(offset, offset + count):
            client.sendmail("news@example.org", [f"reader{n}@example.org"], message)


def ceiling(message: bytes) -> tuple[float, dict]:
    sink = Sink()
    share = RECIPIENTS // WORKERS
    started = time.perf_counter()
    clients = [
        multiprocessing.Process(target=_ceiling_client, args=(sink.port, message, share, n * share))
        for n in range(WORKERS)
    ]
    for client in clients:
        client.start()
    for client in clients:
        client.join()
    seconds = time.perf_counter() - started
    return share * WORKERS / seconds, sink.stop()


def peak_rss_mb(pids: list[int]) -> float:
    """The largest VmHWM (peak resident set) among the worker's processes."""
    peaks = []
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]) / 1024)
    return round(max(peaks, default=0.0), 1)


def group_pids(pgid: int) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if os.getpgid(int(proc.name)) == pgid:
                    pids.append(int(proc.name))
            except OSError:
                continue
    return pids


def measured_send(list_id: int) -> tuple[float, float, dict]:
    import redis

    from campaigns.models import Campaign, Status
    from delivery import lifecycle
    from delivery.progress import campaign_progress

    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    sink = Sink()
    env = {**os.environ, "EMAIL_PORT": str(sink.port)}
    worker = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/celery"),
            "-A",
            "newsletter",
            "worker",
            "--concurrency",
            str(WORKERS),
            "-Q",
            "send,default",
            "--loglevel",
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        time.sleep(5)  # let the pool start before the clock does
        sent = campaign(list_id)
        started = time.perf_counter()
        lifecycle.campaign_start(campaign=sent)
        while Campaign.objects.get(pk=sent.pk).status != Status.SENT:
            time.sleep(0.2)
            if time.perf_counter() - started > 3600:
                raise TimeoutError(campaign_progress(campaign=sent))
        seconds = time.perf_counter() - started
        rss = peak_rss_mb(group_pids(worker.pid))
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(60)
    return seconds, rss, sink.stop()


def run() -> dict:
    database.configure(environment())
    prepare_database()
    everyone, sent_list = audience()
    enqueue_1m, enqueue_1m_bare = enqueue_seconds(everyone)
    from campaigns.models import Campaign

    message = prebuilt_message(campaign(sent_list))
    Campaign.objects.filter(name=f"Bench {sent_list}").delete()
    load_before = os.getloadavg()[0]
    ceiling_rate, _ = ceiling(message)
    seconds, rss, counts = measured_send(sent_list)
    load_after = os.getloadavg()[0]
    from bench import recovery

    recovered = recovery.measure()

    expected = {f"reader{n}@example.org" for n in range(RECIPIENTS)}
    duplicates = sum(count - 1 for count in counts.values() if count > 1)
    missing = len(expected - set(counts))
    rate = RECIPIENTS / seconds
    return {
        "bench": "send",
        "recipients": RECIPIENTS,
        "seconds": round(seconds, 1),
        "msgs_per_s": round(rate),
        "ceiling_msgs_per_s": round(ceiling_rate),
        "ratio": round(rate / ceiling_rate, 2),
        "peak_rss_mb": rss,
        "duplicates": duplicates,
        "missing": missing,
        "enqueue_1m_seconds": round(enqueue_1m, 2),
        "enqueue_1m_bare_seconds": round(enqueue_1m_bare, 2),
        "enqueue_1m_ratio": round(enqueue_1m / enqueue_1m_bare, 2),
        **recovered,
        "message_kb": round(len(message) / 1024, 1),
        "sink": "smtp-sink",
        "worker_processes": WORKERS,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        # The machine is shared: the 1-minute load average around the two sends.
        "load_average": [round(load_before, 1), round(load_after, 1)],
    }
