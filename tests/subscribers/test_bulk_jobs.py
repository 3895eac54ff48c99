"""Bulk jobs: a big selection frozen when asked, worked through by the worker in
chunks, each committed with its progress, resumed after a crash without changing
anyone, or writing anyone's consent, twice."""

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.db import OperationalError
from django.urls import reverse
from django.utils import timezone

from newsletter.models import Role
from subscribers import bulk, bulk_jobs, ledger, selectors, services, tasks
from subscribers.models import (
    BulkJob,
    BulkJobAction,
    BulkJobMember,
    BulkJobStatus,
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    Subscriber,
    SubscriberStatus,
    SubscriptionStatus,
)
from subscribers.tokens import Claim
from tests.factories import MailingListFactory, MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def crowd(monkeypatch):
    """News with 10 people on Releases (one of them left it) and a Contributors list;
    another newsletter with the same addresses; chunks of 3; queued tasks recorded."""
    monkeypatch.setattr(bulk, "CHUNK_SIZE", 3)
    queued = []
    monkeypatch.setattr(tasks.run_bulk_job, "delay_on_commit", queued.append)
    monkeypatch.setattr(tasks.run_bulk_job, "delay", queued.append)
    releases = MailingListFactory(slug="releases", name="Releases")
    newsletter = releases.newsletter
    contributors = MailingListFactory(
        newsletter=newsletter, slug="contributors", name="Contributors"
    )
    other = MailingListFactory(slug="releases", name="Releases")
    people, outsiders = [], []
    for number in range(10):
        email = f"person{number}@example.org"
        people.append(subscribed(newsletter, releases, email))
        outsiders.append(subscribed(other.newsletter, other, email))
    services.unsubscribe(
        claim=Claim(people[9].pk, newsletter.pk), source=ConsentSource.UNSUBSCRIBE_PAGE
    )
    return newsletter, releases, contributors, people, outsiders, queued


def subscribed(newsletter, mailing_list, email: str) -> Subscriber:
    return services.subscribe(
        newsletter=newsletter,
        email=email,
        lists=[mailing_list],
        source=ConsentSource.DASHBOARD,
        wording="x",
        attestation="Signed up at the booth",
    ).subscriber


def order(newsletter, action, mailing_list=None, attestation="") -> bulk.BulkRequest:
    return bulk.BulkRequest(
        newsletter=newsletter,
        action=action,
        mailing_list=mailing_list,
        attestation=attestation,
        actor="eddie (dashboard)",
    )


def start(newsletter, action, mailing_list=None, attestation="", **filters) -> BulkJob:
    return bulk_jobs.bulk_job_start(
        request=order(newsletter, action, mailing_list, attestation),
        contacts=selectors.subscribers_of(newsletter, **filters),
        filters={"q": "person"},
        requested_by=None,
    )


def test_starting_freezes_the_people_who_match_then_and_queues_the_job(crowd):
    newsletter, releases, contributors, people, _outsiders, queued = crowd
    job = start(newsletter, BulkJobAction.ADD, contributors, "Asked at the summit")
    assert queued == [job.pk]
    assert (job.status, job.total, job.done) == (BulkJobStatus.QUEUED, 10, 0)
    assert set(job.members.values_list("subscriber_id", flat=True)) == {p.pk for p in people}
    subscribed(newsletter, releases, "late@example.org")  # matches only after the request
    assert bulk_jobs.bulk_job_run(job_id=job.pk) is True
    job.refresh_from_db()
    assert (job.status, job.done, job.changed, job.skipped) == (BulkJobStatus.DONE, 10, 9, 1)
    assert not contributors.subscriptions.filter(subscriber__email="late@example.org").exists()


def test_a_job_works_in_chunks_and_counts_each_as_it_commits(crowd):
    newsletter, _releases, contributors, people, _outsiders, _queued = crowd
    job = start(newsletter, BulkJobAction.ADD, contributors, "Asked at the summit")
    # No time left after the first chunk: the run stops there and says it is not done.
    assert bulk_jobs.bulk_job_run(job_id=job.pk, seconds=0) is False
    job.refresh_from_db()
    assert (job.status, job.done, job.changed) == (BulkJobStatus.RUNNING, 3, 3)
    assert job.members.count() == 7
    tasks.run_bulk_job(job.pk)  # the worker: runs the rest within its time
    job.refresh_from_db()
    assert (job.status, job.done, job.changed, job.already, job.skipped) == (
        BulkJobStatus.DONE,
        10,
        9,
        0,
        1,
    )
    assert job.finished_at is not None and not job.members.exists()
    event = ConsentEvent.objects.get(subscriber=people[4], mailing_list=contributors)
    assert event.details == {
        "opt_in": "attested",
        "attestation": "Asked at the summit",
        "actor": "eddie (dashboard)",
        "bulk_job": job.pk,
    }
    assert ledger.verify_chain(people[4]).valid


def test_a_job_cut_short_resumes_where_it_stopped_and_writes_each_event_once(crowd, monkeypatch):
    """PostgreSQL goes away in the middle of the second chunk: the first chunk and its
    progress are committed, the second rolled back whole; the sweeper queues the job
    again and the next run finishes it."""
    newsletter, _releases, _contributors, people, outsiders, queued = crowd
    job = start(newsletter, BulkJobAction.UNSUBSCRIBE)
    queued.clear()
    calls = {"n": 0}
    real = ledger.bulk_append

    def dies_in_the_second_chunk(**kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OperationalError("server closed the connection unexpectedly")
        return real(**kwargs)

    monkeypatch.setattr(ledger, "bulk_append", dies_in_the_second_chunk)
    with pytest.raises(OperationalError):
        bulk_jobs.bulk_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert (job.status, job.done, job.changed) == (BulkJobStatus.RUNNING, 3, 3)
    left = ConsentEvent.objects.filter(
        newsletter=newsletter, action=ConsentAction.UNSUBSCRIBED
    ).exclude(subscriber=people[9])
    assert left.count() == 3
    monkeypatch.setattr(ledger, "bulk_append", real)

    assert bulk_jobs.bulk_jobs_resume_stale() == 0  # it moved a moment ago
    BulkJob.objects.filter(pk=job.pk).update(updated_at=timezone.now() - timedelta(hours=1))
    assert bulk_jobs.bulk_jobs_resume_stale() == 1
    assert queued == [job.pk]
    assert bulk_jobs.bulk_job_run(job_id=job.pk) is True
    job.refresh_from_db()
    assert (job.status, job.done, job.changed, job.already) == (BulkJobStatus.DONE, 10, 9, 1)
    # One "unsubscribed" per person who was on the list, however the job was cut.
    assert left.count() == 9
    assert sorted(left.values_list("subscriber_id", flat=True)) == [p.pk for p in people[:9]]
    for person in people:
        person.refresh_from_db()
        assert person.status == SubscriberStatus.UNSUBSCRIBED
        assert ledger.verify_chain(person).valid
    # Running it again (a redelivered task) changes nothing.
    assert bulk_jobs.bulk_job_run(job_id=job.pk) is True
    assert left.count() == 9
    for outsider in outsiders:
        assert outsider.subscriptions.get().status == SubscriptionStatus.CONFIRMED


def test_a_person_with_several_lists_gets_one_chained_event_per_list(crowd):
    newsletter, _releases, contributors, people, _outsiders, _queued = crowd
    subscribed(newsletter, contributors, people[0].email)
    outcome = bulk.bulk_apply(
        request=order(newsletter, BulkJobAction.UNSUBSCRIBE),
        contacts=selectors.subscribers_of(newsletter).filter(pk=people[0].pk),
    )
    assert outcome.changed == 1
    events = ConsentEvent.objects.filter(subscriber=people[0], action=ConsentAction.UNSUBSCRIBED)
    assert {event.mailing_list.slug for event in events} == {"releases", "contributors"}
    assert ledger.verify_chain(people[0]).valid


def test_a_job_touches_only_its_own_newsletters_people(crowd):
    newsletter, releases, _contributors, _people, outsiders, _queued = crowd
    job = start(newsletter, BulkJobAction.REMOVE, releases)
    # An id of another newsletter's person slipped among the members matches nobody.
    BulkJobMember.objects.create(job=job, subscriber_id=outsiders[0].pk)
    bulk_jobs.bulk_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert (job.done, job.changed, job.already, job.skipped) == (11, 9, 1, 1)
    for outsider in outsiders:
        assert outsider.subscriptions.get().status == SubscriptionStatus.CONFIRMED
        assert not outsider.consent_events.filter(action=ConsentAction.UNSUBSCRIBED).exists()


def test_a_list_archived_meanwhile_stops_the_job_with_its_reason(crowd):
    newsletter, _releases, contributors, _people, _outsiders, _queued = crowd
    job = start(newsletter, BulkJobAction.ADD, contributors, "Asked at the summit")
    assert bulk_jobs.bulk_job_run(job_id=job.pk, seconds=0) is False
    services.list_archive(mailing_list=contributors)
    assert bulk_jobs.bulk_job_run(job_id=job.pk) is True
    job.refresh_from_db()
    assert job.status == BulkJobStatus.FAILED
    assert job.error == "Archived lists take no new subscriptions."
    assert (job.done, contributors.subscriptions.count()) == (3, 3)
    assert not job.members.exists()


def test_bad_input_starts_no_job(crowd):
    newsletter, _releases, contributors, _people, _outsiders, queued = crowd
    with pytest.raises(Exception, match="Say how these people agreed"):
        start(newsletter, BulkJobAction.ADD, contributors, "  ")
    assert not BulkJob.objects.exists() and not BulkJobMember.objects.exists()
    assert queued == []


@pytest.fixture
def small_requests(settings):
    settings.BULK_ACTION_IN_REQUEST_MAX = 4


def test_the_page_hands_a_big_selection_to_the_worker_and_shows_its_progress(
    client, crowd, small_requests
):
    newsletter, _releases, contributors, _people, _outsiders, queued = crowd
    editor = MembershipFactory(newsletter=newsletter, role=Role.EDITOR).user
    client.force_login(editor)
    response = client.post(
        reverse("dashboard:subscriber_bulk", args=[newsletter.slug]),
        {
            "action": "add",
            "target": "contributors",
            "attestation": "Asked at the summit",
            "scope": "all",
            "q": "person",
        },
    )
    job = BulkJob.objects.get()
    page = reverse("dashboard:bulk_job_detail", args=[newsletter.slug, job.pk])
    assert response["Location"] == page
    assert (job.total, job.filters, job.requested_by, queued) == (
        10,
        {"q": "person"},
        editor,
        [job.pk],
    )
    assert job.actor.startswith(editor.username)
    assert not contributors.subscriptions.exists()  # nothing done in the request

    waiting = client.get(page).content.decode()
    assert 'data-status="queued"' in waiting and 'hx-trigger="every 1s"' in waiting
    assert "Adding people to “Contributors”" in waiting
    bulk_jobs.bulk_job_run(job_id=job.pk, seconds=0)
    panel = client.get(page, headers={"HX-Request": "true"}).content.decode()
    assert 'id="bulk-job-progress"' in panel and "<html" not in panel
    assert '<progress value="3" max="10"' in panel and "3 of 10 people done" in panel
    bulk_jobs.bulk_job_run(job_id=job.pk)
    panel = client.get(page, headers={"HX-Request": "true"}).content.decode()
    assert 'data-status="done"' in panel and "hx-get" not in panel
    assert (
        "9 people added to Contributors; 1 left, bounced or complained: "
        "only they can come back." in panel
    )
    listing = client.get(reverse("dashboard:subscriber_list", args=[newsletter.slug]))
    assert page in listing.content.decode()


def test_a_small_selection_is_still_done_in_the_request(client, crowd, small_requests):
    newsletter, _releases, _contributors, people, _outsiders, queued = crowd
    editor = MembershipFactory(newsletter=newsletter, role=Role.EDITOR).user
    client.force_login(editor)
    response = client.post(
        reverse("dashboard:subscriber_bulk", args=[newsletter.slug]),
        {
            "action": "add",
            "target": "contributors",
            "attestation": "Asked at the summit",
            "scope": "selected",
            "ids": [p.pk for p in people[:4]],
        },
    )
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "4 people added to Contributors."
    ]
    assert not BulkJob.objects.exists() and queued == []


def test_viewers_may_watch_a_job_but_not_start_one(client, crowd, small_requests):
    newsletter, _releases, _contributors, _people, _outsiders, _queued = crowd
    job = start(newsletter, BulkJobAction.UNSUBSCRIBE)
    viewer = MembershipFactory(newsletter=newsletter, role=Role.VIEWER).user
    client.force_login(viewer)
    page = reverse("dashboard:bulk_job_detail", args=[newsletter.slug, job.pk])
    assert client.get(page).status_code == 200
    response = client.post(
        reverse("dashboard:subscriber_bulk", args=[newsletter.slug]),
        {"action": "unsubscribe", "scope": "all"},
    )
    assert response.status_code == 403 and BulkJob.objects.count() == 1
