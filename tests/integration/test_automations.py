"""An automation driven by real Celery workers through its wait steps, with the clock
set by the test, to a local SMTP server: a worker killed with SIGKILL mid-send and a
flushed Redis must neither repeat a step for anyone nor skip one. The only exception
allowed is a row marked ``uncertain`` (at most one per killed process), never resent.
"""

import time
from collections import Counter
from datetime import datetime, timedelta
from email import message_from_bytes, policy

import pytest
from django.utils import timezone

from automations import services
from automations.models import Enrolment, EnrolmentState
from automations.services import StepSpec
from automations.tasks import advance
from delivery import sweeper
from delivery.models import UNFINISHED, Delivery, DeliveryStatus
from subscribers import services as subscribers
from subscribers.models import ConsentSource
from tests.conftest import start_worker, wait_for
from tests.factories import MailingListFactory, NewsletterFactory, UserFactory
from tests.smtp_sink import SMTPSink

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

LEASE_SECONDS = 3
PEOPLE = 60
SUBJECTS = ("Welcome aboard", "Your first contribution", "Meet the maintainers")


@pytest.fixture
def sink():
    with SMTPSink() as sink:
        yield sink


@pytest.fixture
def sending(settings, redis_client, sink):
    settings.SEND_LEASE_SECONDS = LEASE_SECONDS
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(sink.port),
        "CRIER_SEND_LEASE_SECONDS": str(LEASE_SECONDS),
        "CRIER_SEND_BATCH_SIZE": "5",
        "CRIER_SEND_PARALLELISM": "2",
    }


def welcome_series():
    newsletter = NewsletterFactory()
    newcomers = MailingListFactory(newsletter=newsletter)
    automation = services.automation_create(
        newsletter=newsletter,
        created_by=UserFactory(),
        name="Welcome",
        lists=[newcomers],
        steps=[
            StepSpec(kind="send", subject=SUBJECTS[0], body="Hello!"),
            StepSpec(kind="wait", delay=timedelta(days=2)),
            StepSpec(kind="send", subject=SUBJECTS[1], body="Here is how."),
            StepSpec(kind="wait_until", weekday=0, hour=9),
            StepSpec(kind="send", subject=SUBJECTS[2], body="Say hello."),
        ],
    )
    return services.automation_activate(automation=automation), newsletter, newcomers


def confirm_people(newsletter, newcomers) -> list[str]:
    emails = [f"newcomer{n}@example.org" for n in range(PEOPLE)]
    for email in emails:
        subscribers.subscribe(
            newsletter=newsletter,
            email=email,
            lists=[newcomers],
            source=ConsentSource.IMPORT,
            wording="I agree.",
            attestation="test audience",
        )
    return emails


def received(sink) -> Counter:
    """(recipient, subject) → how many messages the server accepted."""
    with sink.handler.lock:
        messages = list(sink.handler.received)
    counts = Counter()
    for message in messages:
        subject = message_from_bytes(message.data, policy=policy.default)["Subject"]
        for recipient in message.recipients:
            counts[(recipient, subject)] += 1
    return counts


def run_clock(now: datetime) -> None:
    """What beat does every 15 s, at the test's time, through the broker to a worker."""
    advance.delay(now.isoformat())


def sweep_until_quiet(timeout: float = 120) -> list[sweeper.SweepReport]:
    """Beat's sweeper, every half second, until no step's message is left unsent."""
    deadline = time.monotonic() + timeout
    reports = []
    while Delivery.objects.filter(status__in=UNFINISHED).exists():
        assert time.monotonic() < deadline, list(Delivery.objects.values_list("status"))
        reports.append(sweeper.sweep())
        time.sleep(0.5)
    return reports


def assert_each_step_once(sink, emails, subjects, killed_processes=0) -> None:
    counts = received(sink)
    assert counts and max(counts.values()) == 1, "someone received a step twice"
    uncertain = set(
        Delivery.objects.filter(status=DeliveryStatus.UNCERTAIN).values_list(
            "subscriber__email", "campaign__subject"
        )
    )
    assert len(uncertain) <= killed_processes
    missing = [
        (email, subject)
        for email in emails
        for subject in subjects
        if counts[(email, subject)] == 0 and (email, subject) not in uncertain
    ]
    assert missing == []
    assert {subject for _, subject in counts} == set(subjects)


def test_a_welcome_series_is_sent_step_by_step_once_through_a_kill_and_a_flush(
    tmp_path, sending, sink, redis_client
):
    sink.handler.delay = 0.02
    automation, newsletter, newcomers = welcome_series()
    emails = confirm_people(newsletter, newcomers)
    start = timezone.now()

    # Step one, with the worker killed while it sends.
    doomed = start_worker(tmp_path / "doomed.log", name="doomed", concurrency=2, **sending)
    run_clock(start)
    in_flight = Delivery.objects.filter(status=DeliveryStatus.IN_FLIGHT)
    wait_for(lambda: len(sink.handler.received) >= 15 and in_flight.exists(), interval=0.01)
    doomed.kill()
    survivor = start_worker(tmp_path / "survivor.log", name="survivor", **sending)
    try:
        reports = sweep_until_quiet()
        assert sum(report.requeued + report.uncertain for report in reports) > 0
        assert_each_step_once(sink, emails, SUBJECTS[:1], killed_processes=2)

        # A day later nobody moves; two days later step two, with Redis flushed mid-way.
        run_clock(start + timedelta(days=1))
        run_clock(start + timedelta(days=2, minutes=1))
        wait_for(lambda: len(sink.handler.received) >= PEOPLE + 10, interval=0.01)
        redis_client.flushdb()
        sweep_until_quiet()
        # Lost ticks are only late: the next ones advance whoever is still due.
        run_clock(start + timedelta(days=2, minutes=2))
        wait_for(
            lambda: (
                not Enrolment.objects.filter(
                    next_run_at__lte=start + timedelta(days=2, minutes=2)
                ).exists()
            )
        )
        sweep_until_quiet()
        assert_each_step_once(sink, emails, SUBJECTS[:2], killed_processes=2)

        # The Monday at 09:00 after that: step three, then everyone is done.
        monday = services.timing.next_weekday_hour(
            start + timedelta(days=2, minutes=2),
            services.timing.zone_for(newsletter_zone=newsletter.timezone, attributes=None),
            0,
            9,
        )
        run_clock(monday - timedelta(minutes=1))
        run_clock(monday + timedelta(minutes=1))
        wait_for(
            lambda: Enrolment.objects.filter(state=EnrolmentState.DONE).count() == PEOPLE,
            timeout=60,
        )
        sweep_until_quiet()
        # Ticks repeated after the end send nothing more.
        run_clock(monday + timedelta(days=30))
        time.sleep(1)
        sweep_until_quiet()
    finally:
        survivor.stop()
    assert_each_step_once(sink, emails, SUBJECTS, killed_processes=2)
    assert automation.enrolments.count() == PEOPLE
