"""Counting a segment over 1,000,000 subscribers (issue 15: under 1 s).

The data set is built once in its own database (``BENCH_SEGMENTS_DATABASE_URL``,
default ``crier_bench_segments``) with ``INSERT … SELECT generate_series`` and reused
while it matches the requested size (``BENCH_SEGMENTS_REBUILD=1`` rebuilds): one
newsletter, three lists (each person confirmed on one), typed values for two custom
fields (``sdk``, a choice of four; ``commits``, a number), joining dates over two years.

The segment has three conditions, one of each kind the compiler emits: list membership
with its status (a subquery), a custom field (JSON containment), and a date window (a
column):

    confirmed on "releases" AND sdk is "python" AND subscribed in the last 365 days

``count_ms`` is the send path's count (``delivery.audience.audience_count`` with the
segment compiled in and the consent rules on top, cache bypassed): the number the
builder shows as "can be mailed" and the send page shows; ``matching_ms`` is the
builder's other count (the rules alone). Each is the median of ``BENCH_SEGMENTS_ROUNDS``
runs (default 5) after one warm-up. The load average is reported with them: the
machine is shared.
"""

import os
import statistics
import time

from bench import database

NAME = "segments"
SUBSCRIBERS = int(os.environ.get("BENCH_SEGMENTS_SUBSCRIBERS", "1000000"))
ROUNDS = int(os.environ.get("BENCH_SEGMENTS_ROUNDS", "5"))
TARGET_MS = 1000
RULES = {
    "all": [
        {"field": "list", "op": "confirmed", "value": "releases"},
        {"field": "sdk", "op": "eq", "value": "python"},
        {"field": "subscribed_at", "op": "in_last_days", "value": 365},
    ]
}


def _database_url() -> str:
    return database.database_url("BENCH_SEGMENTS_DATABASE_URL", "crier_bench_segments")


def _marker() -> str:
    return f"bench segments: {SUBSCRIBERS} subscribers"


def build_dataset() -> float:
    from django.core.management import call_command
    from django.db import connection

    from subscribers.fields import field_create
    from subscribers.models import MailingList

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    newsletter = database.bench_newsletter()
    lists = [
        MailingList.objects.create(newsletter=newsletter, name=name, slug=name.lower())
        for name in ("Announcements", "Releases", "Security")
    ]
    field_create(
        newsletter=newsletter,
        key="sdk",
        label="SDK",
        type="choice",
        choices=["python", "rust", "go", "js"],
    )
    field_create(newsletter=newsletter, key="commits", label="Commits", type="number")
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO subscribers_subscriber (newsletter_id, email, name, email_digest,"
            " language, attributes, status, tracking_opt_out, created_at, updated_at)"
            " SELECT %(newsletter)s, 'reader' || n || '@example.org', 'Reader ' || n,"
            " md5(n::text) || md5((n + 1)::text), '',"
            " jsonb_build_object('sdk', (ARRAY['python','rust','go','js'])[1 + n %% 4],"
            " 'commits', n %% 500),"
            " 'active', false, now() - (n %% 730) * interval '1 day', now()"
            " FROM generate_series(1, %(count)s) AS n",
            {"newsletter": newsletter.pk, "count": SUBSCRIBERS},
        )
        cursor.execute(
            "INSERT INTO subscribers_subscription (subscriber_id, mailing_list_id,"
            " newsletter_id, status, created_at, confirmed_at)"
            " SELECT s.id, (%(lists)s::bigint[])[1 + s.id %% 3], s.newsletter_id, 'confirmed',"
            " s.created_at, s.created_at FROM subscribers_subscriber s"
            " WHERE s.newsletter_id = %(newsletter)s",
            {"newsletter": newsletter.pk, "lists": [mailing_list.pk for mailing_list in lists]},
        )
        cursor.execute("VACUUM ANALYZE")
    database.mark_ready(_marker())
    return time.perf_counter() - started


def _median_ms(count) -> tuple[float, int]:
    count()  # warm-up: the first run reads the tables from disk
    timings, result = [], 0
    for _ in range(ROUNDS):
        started = time.perf_counter()
        result = count()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings), result


def run() -> dict:
    url = _database_url()
    ready = database.dataset_ready(url, _marker(), rebuild_variable="BENCH_SEGMENTS_REBUILD")
    if not ready:
        database.recreate(url)
    database.configure(database.environment(url, redis_db=11))
    build_seconds = 0.0 if ready else build_dataset()
    from django.core.cache import cache

    from audiences.rules import compile_rules
    from audiences.services import segment_preview
    from delivery import audience
    from newsletter.models import Newsletter

    newsletter = Newsletter.objects.get(slug="bench")

    def mailable() -> int:
        cache.clear()  # the send page's 30 s cache would hide the query
        compiled = compile_rules(RULES, newsletter=newsletter, prefix="seg")
        return audience.segment_audience_count(newsletter_id=newsletter.pk, segment=compiled)

    count_ms, mailable_count = _median_ms(mailable)
    matching_ms, _preview = _median_ms(
        lambda: segment_preview(newsletter=newsletter, rules=RULES).matching
    )
    return {
        "bench": NAME,
        "subscribers": SUBSCRIBERS,
        "conditions": len(RULES["all"]),
        "count_ms": round(count_ms, 1),
        "matching_ms": round(matching_ms, 1),
        "target_ms": TARGET_MS,
        "mailable": mailable_count,
        "build_seconds": round(build_seconds, 1),
        "load_average": round(os.getloadavg()[0], 2),
    }
