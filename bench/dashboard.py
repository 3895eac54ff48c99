"""Dashboard pages at scale: 1,000,000 subscribers and 100 sent campaigns.

The data set is built once in its own database (``BENCH_DASHBOARD_DATABASE_URL``,
default ``crier_bench_dashboard``) and reused by later runs while it matches the
requested size; ``BENCH_DASHBOARD_REBUILD=1`` forces a rebuild. Subscribers join
in daily cohorts over two years, each with a real consent-ledger event (the same
``bulk_append`` imports use), and 5% later unsubscribe, so growth and churn
charts have history. Every campaign has been sent: the three most recent to
everyone (3,000,000 delivery rows), the 97 older ones to a 2% sample each, which
keeps the data set buildable in minutes while the pages that read deliveries
(the send page, a subscriber's history) see a million-row campaign. The newsletter
publishes its transparency page (``/n/bench/stats/``, public, from rollups refreshed
once here as beat would every hour), with a public consultation of 20,000 answers;
its p95 is reported apart against its own target of 100 ms.

Each page is requested through Django's test client as a logged-in owner (server
side only: middleware, view, queries and template), twice to warm up, then
``BENCH_DASHBOARD_ROUNDS`` times (default 20); the JSON line carries the p95 of
each page in milliseconds and the slowest page against the 300 ms target. The send
page's recipient count is loaded after the page and reused for 30 s, so it is also
timed on its own with an empty cache (``uncached_recipient_count_ms``).
"""

import math
import os
import platform
import statistics
import time
from datetime import timedelta

from bench import database

NAME = "dashboard"
SUBSCRIBERS = int(os.environ.get("BENCH_DASHBOARD_SUBSCRIBERS", "1000000"))
CAMPAIGNS = 100
FULL_CAMPAIGNS = 3
SAMPLE_EVERY = 50
DAYS = 730
ROUNDS = int(os.environ.get("BENCH_DASHBOARD_ROUNDS", "20"))
TARGET_MS = 300
TRANSPARENCY_TARGET_MS = 100


def _database_url() -> str:
    return database.database_url("BENCH_DASHBOARD_DATABASE_URL", "crier_bench_dashboard")


def _marker() -> str:
    return f"bench data set: {SUBSCRIBERS} subscribers, {CAMPAIGNS} sent campaigns"


def _configure(url: str) -> None:
    from django.core.management import call_command

    database.configure(database.environment(url, redis_db=11))
    # Production settings serve hashed static files from a manifest, as gunicorn would.
    call_command("collectstatic", interactive=False, verbosity=0)


def build_dataset() -> float:
    """Create the data set; return the seconds it took."""
    from django.core.management import call_command
    from django.db import connection

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    newsletter, lists = _newsletter()
    _subscribers(newsletter, lists)
    _campaigns(newsletter, lists)
    _transparency()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    database.mark_ready(_marker())
    return time.perf_counter() - started


def _newsletter():
    from django.contrib.auth import get_user_model

    from newsletter.models import Membership, Role
    from subscribers.models import MailingList

    newsletter = database.bench_newsletter()
    owner = get_user_model().objects.create_user("bench", "bench@example.org")
    Membership.objects.create(newsletter=newsletter, user=owner, role=Role.OWNER)
    lists = [
        MailingList.objects.create(newsletter=newsletter, name=name, slug=name.lower())
        for name in ("Announcements", "Releases", "Security")
    ]
    return newsletter, lists


def _subscribers(newsletter, lists) -> None:
    """Daily cohorts, loaded with COPY, each person subscribed with a ledger event."""
    from django.db import connection
    from django.utils import timezone

    from subscribers.ledger import BulkEntry, bulk_append, copy_text
    from subscribers.models import address_digest

    start = timezone.now() - timedelta(days=DAYS)
    per_day = math.ceil(SUBSCRIBERS / DAYS)
    for day in range(DAYS):
        first = day * per_day
        count = min(per_day, SUBSCRIBERS - first)
        if count <= 0:
            break
        joined = start + timedelta(days=day, hours=9)
        rows = []
        for n in range(first, first + count):
            email = f"reader{n}@example{n % 97}.org"
            rows.append(
                f"{newsletter.pk}\t{email}\t{copy_text(f'Reader {n}')}\t{address_digest(email)}"
                f'\t\t{{"city": "City {n % 300}"}}\tactive\tf\t{joined.isoformat()}\t'
                f"{joined.isoformat()}\n"
            )
        with connection.cursor() as cursor:
            with cursor.copy(
                "COPY subscribers_subscriber (newsletter_id, email, name, email_digest, language,"
                " attributes, status, tracking_opt_out, created_at, updated_at) FROM STDIN"
            ) as copy:
                copy.write("".join(rows))
            cursor.execute(
                "SELECT id, email FROM subscribers_subscriber WHERE created_at = %s ORDER BY id",
                [joined],
            )
            cohort = cursor.fetchall()
            mailing_list = lists[day % len(lists)]
            cursor.execute(
                "INSERT INTO subscribers_subscription"
                " (subscriber_id, mailing_list_id, newsletter_id, status, created_at,"
                " confirmed_at)"
                " SELECT id, %s, newsletter_id, 'confirmed', created_at, created_at"
                " FROM subscribers_subscriber WHERE created_at = %s",
                [mailing_list.pk, joined],
            )
        bulk_append(
            entries=[BulkEntry(pk, email, "") for pk, email in cohort],
            action="subscribed",
            source="import",
            newsletter=newsletter,
            mailing_list=mailing_list,
            wording="Benchmark subscribers, consent attested by the bench.",
            details={},
            created_at=joined,
        )
        if day % 20 == 19:
            _churn(newsletter, mailing_list, joined + timedelta(days=1))


def _churn(newsletter, mailing_list, when) -> None:
    """One in twenty of the list's confirmed subscribers leaves it."""
    from django.db import connection

    from subscribers.ledger import BulkEntry, bulk_append

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE subscribers_subscription SET status = 'unsubscribed', unsubscribed_at = %s"
            " WHERE mailing_list_id = %s AND status = 'confirmed' AND subscriber_id %% 20 = 0"
            " RETURNING subscriber_id",
            [when, mailing_list.pk],
        )
        leaving = [pk for (pk,) in cursor.fetchall()]
        cursor.execute(
            "SELECT DISTINCT ON (e.subscriber_id) e.subscriber_id, s.email, e.hash"
            " FROM subscribers_consentevent e"
            " JOIN subscribers_subscriber s ON s.id = e.subscriber_id"
            " WHERE e.subscriber_id = ANY(%s) ORDER BY e.subscriber_id, e.id DESC",
            [leaving],
        )
        entries = [BulkEntry(pk, email, last) for pk, email, last in cursor.fetchall()]
    bulk_append(
        entries=entries,
        action="unsubscribed",
        source="preference_center",
        newsletter=newsletter,
        mailing_list=mailing_list,
        wording="",
        details={},
        created_at=when,
    )


def _campaigns(newsletter, lists) -> None:
    from django.db import connection
    from django.utils import timezone

    from bench.render import sample_body
    from campaigns.models import Campaign, Layout
    from campaigns.rendering import DEFAULT_LAYOUTS
    from campaigns.services import campaign_create, campaign_render

    stock = next(stock for stock in DEFAULT_LAYOUTS if stock.name == "Digest")
    layout = Layout.objects.create(newsletter=newsletter, name="Digest", mjml=stock.mjml())
    body = sample_body()
    now = timezone.now()
    for number in range(CAMPAIGNS):
        campaign = campaign_create(
            newsletter=newsletter,
            layout=layout,
            name=f"Issue {number + 1}",
            subject=f"Bench News #{number + 1}",
            body=body,
            public=True,
            created_by=None,
        )
        campaign.lists.set(lists)
        campaign_render(campaign=campaign)
        sent_at = now - timedelta(days=7 * (CAMPAIGNS - number))
        Campaign.objects.filter(pk=campaign.pk).update(status="sent", sent_at=sent_at)
        everyone = number >= CAMPAIGNS - FULL_CAMPAIGNS
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO delivery_delivery (campaign_id, subscriber_id, status, attempts,"
                " last_error, esp_message_id, worker, created_at, sent_at)"
                " SELECT %s, id, 'sent', 1, '', '', '', %s, %s FROM subscribers_subscriber"
                " WHERE created_at < %s AND (%s OR id %% %s = %s)",
                [campaign.pk, sent_at, sent_at, sent_at, everyone, SAMPLE_EVERY, number],
            )
            Campaign.objects.filter(pk=campaign.pk).update(recipient_count=cursor.rowcount)
    draft = campaign_create(
        newsletter=newsletter,
        layout=layout,
        name="Next issue",
        subject="Bench News, next",
        body=body,
        public=True,
        created_by=None,
    )
    draft.lists.set(lists)


def _transparency() -> None:
    """The transparency page published, a public consultation answered by 20,000 people
    (its rollup counts: answers are never read by the page), and the page's rollups
    computed as beat's hourly refresh would. Done once per data set."""
    from newsletter.models import Newsletter
    from participation.models import AudienceMonth, Choice, ParticipationSettings, Question
    from participation.services import consultations, transparency

    newsletter = Newsletter.objects.get(slug="bench")
    ParticipationSettings.objects.update_or_create(
        newsletter=newsletter, defaults={"transparency_page": True}
    )
    if not newsletter.consultations.exists():
        consultation = consultations.consultation_create(
            newsletter=newsletter,
            created_by=None,
            title="Roadmap",
            public_results=True,
            questions=[
                consultations.QuestionSpec("single", "Which first?", ["Speed", "Plugins", "Docs"]),
                consultations.QuestionSpec("scale", "How happy are you?"),
            ],
        )
        Question.objects.filter(consultation=consultation).update(respondents=20_000)
        for question in consultation.questions.all():
            choices = list(question.choices.all())
            for index, choice in enumerate(choices):
                share = 20_000 // len(choices) + (20_000 % len(choices) if index == 0 else 0)
                Choice.objects.filter(pk=choice.pk).update(answers=share)
    if not AudienceMonth.objects.filter(newsletter=newsletter).exists():
        transparency.refresh(newsletter)


def _migrate() -> None:
    """A reused data set follows the code's migrations (new indexes, rollups), with fresh
    planner statistics for any column they added (autovacuum may not have run yet)."""
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    _transparency()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def pages() -> dict[str, str]:
    """The main dashboard pages, by name, as URLs into the data set."""
    from django.urls import NoReverseMatch, reverse

    from campaigns.models import Campaign
    from subscribers.models import Subscriber

    latest = Campaign.objects.filter(newsletter__slug="bench", status="sent").latest("sent_at")
    draft = Campaign.objects.get(newsletter__slug="bench", status="draft")
    someone = Subscriber.objects.order_by("id")[SUBSCRIBERS // 2]
    slug = {"slug": "bench"}
    wanted = {
        "home": ("dashboard:home", {}),
        "newsletter": ("dashboard:newsletter", slug),
        "campaigns": ("dashboard:campaign_list", slug),
        "campaign_edit": ("dashboard:campaign_edit", {**slug, "pk": draft.pk}),
        "campaign_send": ("dashboard:campaign_send", {**slug, "pk": draft.pk}),
        "campaign_recipients": ("dashboard:campaign_recipients", {**slug, "pk": draft.pk}),
        "campaign_sending": ("dashboard:campaign_sending", {**slug, "pk": latest.pk}),
        "campaign_report": ("dashboard:campaign_report", {**slug, "pk": latest.pk}),
        "lists": ("dashboard:list_index", slug),
        "subscribers": ("dashboard:subscriber_list", slug),
        "subscriber": ("dashboard:subscriber_detail", {**slug, "pk": someone.pk}),
        "settings": ("dashboard:settings", slug),
        "participation": ("dashboard:participation", slug),
        "transparency": ("participation:stats", {"newsletter": "bench"}),
    }
    found = {}
    for name, (viewname, kwargs) in wanted.items():
        try:
            found[name] = reverse(viewname, kwargs=kwargs)
        except NoReverseMatch:
            continue
    if "campaign_recipients" in found:
        lists = "&".join(f"lists={pk}" for pk in draft.lists.values_list("pk", flat=True))
        found["campaign_recipients"] += f"?{lists}"
    if "subscribers" in found:
        found["subscriber_search"] = f"{found['subscribers']}?q=reader4242"
    return found


def time_pages(urls: dict[str, str]) -> dict[str, float]:
    """p95 in milliseconds of each page, server side."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(username="bench"))
    results = {}
    for name, url in urls.items():
        timings = []
        for round_number in range(ROUNDS + 2):
            started = time.perf_counter()
            response = client.get(url)
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                raise RuntimeError(f"{name} ({url}) answered {response.status_code}")
            if round_number >= 2:
                timings.append(elapsed)
        results[name] = round(statistics.quantiles(timings, n=20)[18], 1)
    return results


def uncached_audience_count_ms() -> float:
    """The send page's count when no recent count is cached: everyone, three lists."""
    from django.core.cache import cache

    from campaigns.models import Campaign
    from delivery import audience

    draft = Campaign.objects.get(newsletter__slug="bench", status="draft")
    list_ids = list(draft.lists.values_list("pk", flat=True))
    timings = []
    for _ in range(5):
        cache.clear()
        started = time.perf_counter()
        audience.audience_count(list_ids=list_ids)
        timings.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(timings), 1)


def run() -> dict:
    url = _database_url()
    built_seconds = None
    if not database.dataset_ready(url, _marker(), rebuild_variable="BENCH_DASHBOARD_REBUILD"):
        database.recreate(url)
        _configure(url)
        built_seconds = round(build_dataset(), 1)
    else:
        _configure(url)
        _migrate()
    p95 = time_pages(pages())
    audience_ms = uncached_audience_count_ms()
    slowest = max(p95, key=p95.get)
    return {
        "bench": NAME,
        "subscribers": SUBSCRIBERS,
        "sent_campaigns": CAMPAIGNS,
        "pages": len(p95),
        **{f"p95_ms_{name}": value for name, value in p95.items()},
        "slowest_page": slowest,
        "slowest_p95_ms": p95[slowest],
        "target_ms": TARGET_MS,
        "transparency_p95_ms": p95.get("transparency"),
        "transparency_target_ms": TRANSPARENCY_TARGET_MS,
        "uncached_recipient_count_ms": audience_ms,
        "ratio": round(TARGET_MS / p95[slowest], 2),
        "dataset_built_seconds": built_seconds,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
    }
