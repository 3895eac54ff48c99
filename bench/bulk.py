"""A bulk action on a six-figure selection, as the worker does it (docs/subscribers.md).

A fresh database (``BENCH_BULK_DATABASE_URL``, default ``crier_bench_bulk``) holds one
newsletter whose ``BENCH_BULK_PEOPLE`` people (default 100,000) are confirmed on
Releases, made with ``INSERT … SELECT generate_series``. Two bulk jobs then run in
this process exactly as ``tasks.run_bulk_job`` runs them, one after the other, on
everyone: *add to Contributors* (attested) and *unsubscribe from all lists*.

``people_per_s`` is the slower of the two jobs' rates, freezing the selection
included. The peer is the way bulk actions went before jobs: the single-person
services (``services.subscribe`` with an attestation, one transaction per chunk of
500) on ``BENCH_BULK_PEER_PEOPLE`` other people (default 2,000) of the same
database; ``ratio`` is the peer's rate over the job's add rate (below 1: the job is
faster). ``duplicates`` and ``missing`` compare the ledger events written with one
per person and action. The load average is reported: the machine is shared.
"""

import os
import time

from bench import database

NAME = "bulk"
PEOPLE = int(os.environ.get("BENCH_BULK_PEOPLE", "100000"))
PEER_PEOPLE = int(os.environ.get("BENCH_BULK_PEER_PEOPLE", "2000"))


def build_dataset():
    """The newsletter, its two lists, and everyone (the peer's people last) on Releases."""
    from django.core.management import call_command
    from django.db import connection

    from subscribers.models import MailingList

    call_command("migrate", verbosity=0)
    newsletter = database.bench_newsletter()
    releases = MailingList.objects.create(newsletter=newsletter, name="Releases", slug="releases")
    MailingList.objects.create(newsletter=newsletter, name="Contributors", slug="contributors")
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO subscribers_subscriber (newsletter_id, email, name, email_digest,"
            " language, attributes, status, tracking_opt_out, created_at, updated_at)"
            " SELECT %(newsletter)s, 'reader' || n || '@example.org', 'Reader ' || n,"
            " encode(sha256(convert_to('crier:reader' || n || '@example.org', 'UTF8')), 'hex'),"
            " '', '{}', 'active', false, now(), now()"
            " FROM generate_series(1, %(count)s) AS n",
            {"newsletter": newsletter.pk, "count": PEOPLE + PEER_PEOPLE},
        )
        cursor.execute(
            "INSERT INTO subscribers_subscription (subscriber_id, mailing_list_id,"
            " newsletter_id, status, created_at, confirmed_at)"
            " SELECT s.id, %(list)s, s.newsletter_id, 'confirmed', now(), now()"
            " FROM subscribers_subscriber s WHERE s.newsletter_id = %(newsletter)s",
            {"newsletter": newsletter.pk, "list": releases.pk},
        )
        cursor.execute("VACUUM ANALYZE")
    return newsletter


def _job(newsletter, contacts, action, mailing_list=None) -> tuple[float, int]:
    """Start and run one job to its end; its seconds and its people changed."""
    from subscribers import bulk, bulk_jobs

    started = time.perf_counter()
    job = bulk_jobs.bulk_job_start(
        request=bulk.BulkRequest(
            newsletter=newsletter,
            action=action,
            mailing_list=mailing_list,
            attestation="Contributors who asked at the summit",
            actor="bench (dashboard)",
        ),
        contacts=contacts,
        filters={},
        requested_by=None,
    )
    while not bulk_jobs.bulk_job_run(job_id=job.pk, seconds=3600):
        pass
    job.refresh_from_db()
    return time.perf_counter() - started, job.changed


def _peer(newsletter, contacts, mailing_list) -> float:
    """The single-person services on the peer's people, a chunk per transaction."""
    from django.db import transaction

    from subscribers import bulk, services
    from subscribers.models import ConsentSource, Subscriber

    started = time.perf_counter()
    for chunk in bulk.chunks(contacts):
        with transaction.atomic():
            for contact in Subscriber.objects.filter(pk__in=chunk):
                services.subscribe(
                    newsletter=newsletter,
                    email=contact.email,
                    lists=[mailing_list],
                    source=ConsentSource.DASHBOARD,
                    wording=newsletter.consent_text,
                    attestation="Contributors who asked at the summit",
                    actor="bench (dashboard)",
                )
    return time.perf_counter() - started


def run() -> dict:
    url = database.database_url("BENCH_BULK_DATABASE_URL", "crier_bench_bulk")
    database.recreate(url)
    database.configure(database.environment(url, redis_db=11))
    newsletter = build_dataset()
    from subscribers import selectors, tasks
    from subscribers.models import BulkJobAction, ConsentAction, ConsentEvent

    # The jobs run here, in this process: nothing is queued for a worker.
    tasks.run_bulk_job.delay_on_commit = lambda job_id: None
    contributors = newsletter.lists.get(slug="contributors")
    everyone = selectors.subscribers_of(newsletter)
    last_job_person = everyone.order_by("pk").values_list("pk", flat=True)[PEOPLE - 1]
    selection = everyone.filter(pk__lte=last_job_person)
    add_seconds, added = _job(newsletter, selection, BulkJobAction.ADD, contributors)
    peer_seconds = _peer(newsletter, everyone.filter(pk__gt=last_job_person), contributors)
    left_seconds, left = _job(newsletter, selection, BulkJobAction.UNSUBSCRIBE)

    events = ConsentEvent.objects.filter(subscriber__in=selection)
    subscribed = events.filter(action=ConsentAction.SUBSCRIBED).count()
    unsubscribed = events.filter(action=ConsentAction.UNSUBSCRIBED).count()
    # Each person: one "subscribed" (Contributors), two "unsubscribed" (both lists).
    expected = {"subscribed": PEOPLE, "unsubscribed": 2 * PEOPLE}
    written = {"subscribed": subscribed, "unsubscribed": unsubscribed}
    add_rate = PEOPLE / add_seconds
    peer_rate = PEER_PEOPLE / peer_seconds
    return {
        "bench": NAME,
        "people": PEOPLE,
        "people_per_s": round(min(add_rate, PEOPLE / left_seconds)),
        "add_seconds": round(add_seconds, 1),
        "unsubscribe_seconds": round(left_seconds, 1),
        "peer_people_per_s": round(peer_rate),
        "ratio": round(peer_rate / add_rate, 3),
        "changed": added + left,
        "duplicates": sum(max(0, written[k] - expected[k]) for k in expected),
        "missing": sum(max(0, expected[k] - written[k]) for k in expected),
        "load_average": round(os.getloadavg()[0], 2),
    }
