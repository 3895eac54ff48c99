import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import psycopg
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse

from campaigns.models import Status
from campaigns.selectors import public_archive
from campaigns.services import content_problems
from delivery.models import Delivery, OutboxMessage
from experiments.models import State
from experiments.results import experiment_results
from newsletter.management.commands.seed_demo import TESTED_SUBJECTS
from newsletter.models import Membership, Newsletter, Role
from subscribers import ledger
from subscribers.models import Subscriber, Subscription

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_seed_demo_creates_the_demo_newsletter_and_prints_the_admin_login(capsys, monkeypatch):
    monkeypatch.delenv("CRIER_ADMIN_PASSWORD", raising=False)
    call_command("seed_demo")
    output = capsys.readouterr().out
    password = output.split("as admin / ")[1].split()[0]
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.check_password(password)
    demo = Newsletter.objects.get(slug="demo")
    assert Membership.objects.get(newsletter=demo, user=admin).role == Role.OWNER
    assert set(demo.lists.values_list("slug", flat=True)) == {"announcements", "releases"}
    assert demo.lists.filter(public=True).count() == 2
    confirmed = Subscription.objects.filter(status="confirmed", mailing_list__newsletter=demo)
    assert confirmed.values("subscriber").distinct().count() == 3
    for subscriber in Subscriber.objects.all():
        assert ledger.verify_chain(subscriber).valid


@pytest.mark.django_db
def test_seed_demo_adds_layouts_a_draft_and_a_sent_public_campaign(client):
    call_command("seed_demo")
    call_command("seed_demo")
    demo = Newsletter.objects.get(slug="demo")
    assert demo.layouts.count() == 3
    draft = demo.campaigns.get(status=Status.DRAFT)
    assert content_problems(campaign=draft) == []
    (sent,) = public_archive(demo)
    assert sent.sent_at is not None
    assert client.get(sent.get_public_url()).status_code == 200
    # Each has a French edition: Marie reads French; the archive offers both languages.
    assert draft.editions.get().language == "fr"
    assert "Bienvenue" in client.get(sent.get_public_url() + "fr/").content.decode()


@pytest.mark.django_db
def test_seed_demo_adds_two_fields_and_a_segment_that_picks_the_python_users():
    from audiences.rules import matching

    call_command("seed_demo")
    call_command("seed_demo")
    demo = Newsletter.objects.get(slug="demo")
    assert list(demo.field_definitions.values_list("key", flat=True)) == [
        "sdk",
        "contributor_since",
    ]
    (segment,) = demo.segments.all()
    picked = matching(segment.rules, newsletter=demo).values_list("email", flat=True)
    assert sorted(picked) == ["ada@example.org", "marie@example.org"]


@pytest.mark.django_db
def test_seed_demo_adds_a_sent_campaign_whose_subject_line_was_tested(client, redis_client):
    call_command("seed_demo")
    call_command("seed_demo")
    demo = Newsletter.objects.get(slug="demo")
    campaign = demo.campaigns.get(slug="community-call-march")
    experiment = campaign.experiment
    assert (campaign.status, campaign.editions.exists()) == (Status.SENT, False)
    assert (experiment.state, experiment.winner, experiment.decided_by) == (
        State.DECIDED,
        "B",
        "admin",
    )
    assert "not significant" in experiment.reason
    # The sample got one variant each, the third reader the winner: one message each.
    assert campaign.subject == TESTED_SUBJECTS[1]  # the winner became the campaign
    sent = OutboxMessage.objects.filter(subject__in=TESTED_SUBJECTS)
    assert Counter(message.subject for message in sent) == {
        TESTED_SUBJECTS[0]: 1,
        TESTED_SUBJECTS[1]: 2,
    }
    assert sorted(address for message in sent for address in message.recipients) == [
        "ada@example.org",
        "grace@example.org",
        "marie@example.org",
    ]
    figures = {
        figure.label: (figure.sent, figure.count)
        for figure in experiment_results(experiment=experiment).variants
    }
    assert figures == {"A": (1, 0), "B": (1, 1)}

    client.force_login(get_user_model().objects.get(username="admin"))
    report = client.get(reverse("dashboard:campaign_report", args=["demo", campaign.pk]))
    assert "95 % interval" in report.content.decode()


@pytest.mark.django_db
def test_seed_demo_sends_no_experiment_where_mail_would_leave_the_outbox(
    capsys, settings, redis_client
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    call_command("seed_demo")
    assert "Not seeding the demo experiment" in capsys.readouterr().out
    assert (
        not Newsletter.objects.get(slug="demo")
        .campaigns.filter(slug="community-call-march")
        .exists()
    )
    assert not Delivery.objects.exists()


@pytest.mark.django_db
def test_seed_demo_skips_the_experiment_when_its_readers_left_and_seeds_the_rest(
    capsys, settings, redis_client
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    call_command("seed_demo")  # an older demo, from before the experiment
    Subscription.objects.filter(
        mailing_list__slug="announcements", subscriber__email="grace@example.org"
    ).update(status="unsubscribed")
    settings.EMAIL_BACKEND = "delivery.backends.outbox.EmailBackend"
    capsys.readouterr()

    call_command("seed_demo")

    output = capsys.readouterr().out
    assert "Not seeding the demo experiment: The sample (2 people) must be smaller" in output
    assert "Demo newsletter: Demo Project News" in output
    assert not Delivery.objects.exists()
    assert (
        not Newsletter.objects.get(slug="demo")
        .campaigns.filter(slug="community-call-march")
        .exists()
    )


@pytest.mark.django_db
def test_seed_demo_twice_changes_nothing_and_keeps_the_password(capsys, monkeypatch):
    monkeypatch.delenv("CRIER_ADMIN_PASSWORD", raising=False)
    call_command("seed_demo")
    password = capsys.readouterr().out.split("as admin / ")[1].split()[0]
    call_command("seed_demo")
    second = capsys.readouterr().out
    assert password not in second
    assert "the password printed when it was created" in second
    assert get_user_model().objects.get(username="admin").check_password(password)
    assert Newsletter.objects.filter(slug="demo").count() == 1
    assert Membership.objects.count() == 1
    assert Subscriber.objects.count() == 3
    assert Subscription.objects.count() == 6


@pytest.mark.django_db
def test_seed_demo_sets_the_password_from_the_environment(capsys, monkeypatch):
    call_command("seed_demo")
    monkeypatch.setenv("CRIER_ADMIN_PASSWORD", "a chosen passphrase")
    call_command("seed_demo")
    assert "as admin / a chosen passphrase" in capsys.readouterr().out
    assert get_user_model().objects.get(username="admin").check_password("a chosen passphrase")


def test_check_services_passes_when_postgres_and_redis_answer(capsys):
    call_command("check_services")
    assert "PostgreSQL and Redis are reachable." in capsys.readouterr().out


def run_check_services(*args: str, **env_overrides: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", **env_overrides}
    return subprocess.run(
        [sys.executable, "manage.py", "check_services", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_services_names_an_unreachable_postgres_in_one_line():
    result = run_check_services(DATABASE_URL="postgres://postgres@127.0.0.1:1/crier_test")
    assert result.returncode == 1
    assert result.stderr.strip().startswith(
        "CommandError: PostgreSQL is unreachable at 127.0.0.1:1"
    )
    assert len(result.stderr.strip().splitlines()) == 1


def test_check_services_names_an_unreachable_redis_in_one_line():
    result = run_check_services(REDIS_URL="redis://127.0.0.1:1/15")
    assert result.returncode == 1
    assert result.stderr.startswith(
        "CommandError: Redis is unreachable at redis://127.0.0.1:1/15 ("
    )
    assert len(result.stderr.strip().splitlines()) == 1


def test_check_services_can_create_the_configured_database():
    name = "crier_check_services_test"
    server = "postgres://postgres@127.0.0.1:5432/postgres"
    with psycopg.connect(server, autocommit=True) as db:
        db.execute(f"DROP DATABASE IF EXISTS {name}")
    try:
        result = run_check_services(
            "--create-database", DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{name}"
        )
        assert result.returncode == 0, result.stderr
        assert f"Created database {name}." in result.stdout
        with psycopg.connect(server) as db:
            assert db.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
    finally:
        with psycopg.connect(server, autocommit=True) as db:
            db.execute(f"DROP DATABASE IF EXISTS {name}")
