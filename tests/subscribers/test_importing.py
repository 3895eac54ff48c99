import threading
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from email_validator import validate_email

from subscribers import importing, ledger, personal_data, services, suppressions
from subscribers.models import (
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    ImportStatus,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
    SuppressionReason,
)
from subscribers.tokens import Claim
from tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "imports"
CONSENT = "Signed up on the old Mailman list, 2019-2024."

pytestmark = pytest.mark.django_db


@pytest.fixture
def mailing_list():
    return MailingListFactory(newsletter__slug="proj", slug="news")


def write(tmp_path, text: str, name: str = "people.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def run(mailing_list, path, **kwargs):
    batch = importing.start_import(
        newsletter=mailing_list.newsletter,
        mailing_list=mailing_list,
        attestation=CONSENT,
        actor="tester",
        source_name=path.name,
    )
    return importing.import_file(batch=batch, path=path, **kwargs)


def problems(batch) -> list[tuple[int, str]]:
    return list(batch.problems.order_by("line").values_list("line", "reason"))


@pytest.mark.parametrize(
    "address",
    [
        "Ada.Lovelace+news@Example.ORG",
        "a_b%c@sub-domain.example.co.uk",
        "x@a.io",
        "someone@example.test",
        "a..b@example.org",
        ".a@example.org",
        "a@-x.org",
        "a@x.123",
        "a@xn--nxasmq6b.com",
        "ab@a--b.example.org",
        "é@exämple.org",
        "a@localhost",
        f"{'a' * 65}@example.org",
    ],
)
def test_fast_normalisation_agrees_with_email_validator(address):
    try:
        expected = validate_email(address, check_deliverability=False).normalized
    except Exception:
        with pytest.raises(ValidationError):
            importing.fast_normalize_email(address)
    else:
        assert importing.fast_normalize_email(address) == expected


def test_import_creates_confirmed_subscriptions_and_a_verifiable_ledger(tmp_path, mailing_list):
    path = write(
        tmp_path,
        "email,name,city\n"
        "ada@Example.org,Ada,London\n"
        "not an address,Nobody,\n"
        "grace@example.org,,\n"
        "ADA@example.org,Ada again,Paris\n"
        '"multi\nline@example.org",x,y\n'
        "too,many,fields,here\n",
    )
    batch = run(mailing_list, path)

    assert batch.status == ImportStatus.DONE
    assert (batch.rows, batch.created, batch.subscribed, batch.duplicates) == (6, 2, 2, 1)
    assert [line for line, _ in problems(batch)] == [3, 6, 8]
    assert "invalid email address" in problems(batch)[0][1]
    assert problems(batch)[2][1] == "4 fields, the header has 3"
    ada = Subscriber.objects.get(email="ada@example.org")
    assert ada.name == "Ada" and ada.attributes == {"city": "London"}
    assert Subscription.objects.get(subscriber=ada).status == SubscriptionStatus.CONFIRMED
    event = ConsentEvent.objects.get(subscriber=ada)
    assert (event.action, event.source, event.wording) == (
        ConsentAction.IMPORTED,
        ConsentSource.IMPORT,
        CONSENT,
    )
    assert event.details == {"batch": batch.pk, "attestation": CONSENT, "actor": "tester"}
    assert ledger.verify_chain(ada).valid


def test_bulk_events_extend_an_existing_chain_that_still_verifies(tmp_path, mailing_list):
    services.subscribe(
        newsletter=mailing_list.newsletter,
        email="ada@example.org",
        lists=[MailingListFactory(newsletter=mailing_list.newsletter)],
        source=ConsentSource.FORM,
        wording="form wording",
    )
    run(mailing_list, write(tmp_path, "email\nAda@example.org\n"))
    ada = Subscriber.objects.get()
    report = ledger.verify_chain(ada)
    assert report.valid and report.events == 2
    ledger.append(subscriber=ada, action=ConsentAction.CONFIRMED, source=ConsentSource.DASHBOARD)
    assert ledger.verify_chain(ada).valid
    ConsentEvent.objects.filter(action=ConsentAction.IMPORTED).update(wording="tampered")
    assert not ledger.verify_chain(ada).valid


def test_suppressed_people_and_people_who_left_are_left_alone(tmp_path, mailing_list):
    suppressions.suppress(
        email="Gone@Example.org", reason=SuppressionReason.HARD_BOUNCE, newsletter=None
    )
    left = SubscriptionFactory(
        mailing_list=mailing_list,
        subscriber__email="left@example.org",
        status=SubscriptionStatus.UNSUBSCRIBED,
    )
    pending = SubscriptionFactory(
        mailing_list=mailing_list,
        subscriber__email="pending@example.org",
        status=SubscriptionStatus.PENDING,
    )
    path = write(tmp_path, "email\ngone@example.org\nleft@example.org\npending@example.org\n")
    batch = run(mailing_list, path)

    assert (batch.suppressed, batch.unchanged, batch.subscribed) == (1, 1, 1)
    assert not Subscriber.objects.filter(email__iexact="gone@example.org").exists()
    left.refresh_from_db()
    pending.refresh_from_db()
    assert left.status == SubscriptionStatus.UNSUBSCRIBED
    assert pending.status == SubscriptionStatus.CONFIRMED
    assert not ConsentEvent.objects.filter(subscriber=left.subscriber).exists()


def test_an_interrupted_import_resumes_without_importing_a_row_twice(
    tmp_path, mailing_list, monkeypatch
):
    lines = "".join(f"p{i}@example.org\n" for i in range(10))
    path = write(tmp_path, f"email\n{lines}bad\n")
    original = importing._import_chunk
    calls = []

    def crash_on_third_chunk(**kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk on fire")
        original(**kwargs)

    monkeypatch.setattr(importing, "_import_chunk", crash_on_third_chunk)
    batch = importing.start_import(
        newsletter=mailing_list.newsletter, mailing_list=mailing_list, attestation=CONSENT, actor=""
    )
    with pytest.raises(OSError):
        importing.import_file(batch=batch, path=path, chunk_rows=3)
    batch.refresh_from_db()
    assert (batch.status, batch.lines_done, Subscriber.objects.count()) == (
        ImportStatus.FAILED,
        7,
        6,
    )

    monkeypatch.setattr(importing, "_import_chunk", original)
    batch = importing.import_file(batch=batch, path=path, chunk_rows=3)
    assert batch.status == ImportStatus.DONE
    assert (batch.rows, batch.created, batch.bad_rows) == (11, 10, 1)
    assert Subscriber.objects.count() == 10
    assert ConsentEvent.objects.count() == 10
    assert problems(batch) == [(12, "invalid email address: An email address must have an @-sign.")]


def test_command_prints_a_summary_and_bad_rows_by_line(tmp_path, mailing_list, capsys):
    path = write(tmp_path, "email,name\nada@example.org,Ada\nnope,No\n")
    call_command(
        "import_subscribers",
        str(path),
        "--newsletter",
        "proj",
        "--list",
        "news",
        "--consent",
        CONSENT,
    )
    out = capsys.readouterr().out
    assert "2 rows, 1 new subscribers, 1 subscribed" in out
    assert "line 3: invalid email address" in out


def test_command_fails_when_nothing_could_be_imported(tmp_path, mailing_list):
    path = write(tmp_path, "email\nnope\n")
    with pytest.raises(CommandError, match="Nothing could be imported"):
        call_command(
            "import_subscribers",
            str(path),
            "--newsletter",
            "proj",
            "--list",
            "news",
            "--consent",
            CONSENT,
        )


def test_command_rejects_a_file_without_an_email_column(tmp_path, mailing_list):
    path = write(tmp_path, "name\nAda\n")
    with pytest.raises(CommandError, match="no 'email' column"):
        call_command(
            "import_subscribers",
            str(path),
            "--newsletter",
            "proj",
            "--list",
            "news",
            "--consent",
            CONSENT,
        )


def test_erased_people_are_not_reimported(tmp_path, mailing_list):
    subscriber = SubscriberFactory(email="erased@example.org", newsletter=mailing_list.newsletter)
    personal_data.erase(
        claim=Claim(subscriber.pk, mailing_list.newsletter_id), source=ConsentSource.DASHBOARD
    )
    batch = run(mailing_list, write(tmp_path, "email\nerased@example.org\n"))
    assert batch.suppressed == 1
    assert Subscriber.objects.filter(email__isnull=False).count() == 0


def test_bounced_and_complained_subscribers_are_not_resubscribed(tmp_path, mailing_list):
    newsletter = mailing_list.newsletter
    SubscriberFactory(
        email="bounced@example.org", status=SubscriberStatus.BOUNCED, newsletter=newsletter
    )
    SubscriberFactory(
        email="complained@example.org", status=SubscriberStatus.COMPLAINED, newsletter=newsletter
    )
    path = write(tmp_path, "email\nBounced@example.org\ncomplained@example.org\nok@example.org\n")
    batch = run(mailing_list, path)
    assert (batch.suppressed, batch.created, batch.subscribed) == (2, 1, 1)
    assert list(Subscription.objects.values_list("subscriber__email", flat=True)) == [
        "ok@example.org"
    ]


@pytest.mark.django_db(transaction=True)
def test_parallel_merges_resume_after_a_crash_without_a_row_twice(tmp_path, monkeypatch):
    """Outside a transaction chunks merge on two connections and commit in any order."""
    mailing_list = MailingListFactory(newsletter__slug="proj", slug="news")
    SubscriberFactory(
        email="p3@example.org", name="Already here", newsletter=mailing_list.newsletter
    )
    addresses = [f"p{i}@example.org" for i in range(30)]
    # Every address twice, the second time in another chunk and in the other order,
    # so that concurrent chunks meet the same people; every seventh line is bad.
    rows = [*addresses, *reversed([a.upper() for a in addresses])]
    lines = [f"{address}\n" if n % 7 else "broken\n" for n, address in enumerate(rows, 1)]
    path = write(tmp_path, "email\n" + "".join(lines))
    bad_lines = [n + 1 for n in range(1, len(rows) + 1) if n % 7 == 0]
    original = importing._import_chunk
    calls = []

    def crash_on_fifth_chunk(**kwargs):
        calls.append(threading.current_thread().name)
        if len(calls) == 5:
            raise OSError("disk on fire")
        original(**kwargs)

    monkeypatch.setattr(importing, "_import_chunk", crash_on_fifth_chunk)
    batch = importing.start_import(
        newsletter=mailing_list.newsletter, mailing_list=mailing_list, attestation=CONSENT, actor=""
    )
    with pytest.raises(OSError):
        importing.import_file(batch=batch, path=path, chunk_rows=5)
    batch.refresh_from_db()
    assert batch.status == ImportStatus.FAILED
    assert 0 < batch.chunks.count() < 12
    assert all(name.startswith("import-merge") for name in calls)

    monkeypatch.setattr(importing, "_import_chunk", original)
    batch = importing.import_file(batch=batch, path=path, chunk_rows=5)

    assert batch.status == ImportStatus.DONE
    assert batch.rows == len(rows) and batch.lines_done == len(rows) + 1
    assert [line for line, _ in problems(batch)] == bad_lines
    subscribed = Subscription.objects.filter(mailing_list=mailing_list)
    good = {address for n, address in enumerate(rows, 1) if n % 7}
    emails = [email.lower() for email in subscribed.values_list("subscriber__email", flat=True)]
    assert sorted(emails) == sorted({address.lower() for address in good})
    assert batch.created + 1 == Subscriber.objects.count() == len({a.lower() for a in good})
    assert batch.subscribed == subscribed.count()
    for subscriber in Subscriber.objects.all():
        assert ConsentEvent.objects.filter(subscriber=subscriber).count() == 1
        assert ledger.verify_chain(subscriber).valid


def test_command_resumes_an_import_whose_process_was_killed(tmp_path, mailing_list, monkeypatch):
    path = write(tmp_path, "email\n" + "".join(f"k{i}@example.org\n" for i in range(9)))
    original = importing._import_chunk
    calls = []

    def die_on_second_chunk(**kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # as a killed process: no chance to record a failure
        original(**kwargs)

    monkeypatch.setattr(importing, "_import_chunk", die_on_second_chunk)
    batch = importing.start_import(
        newsletter=mailing_list.newsletter, mailing_list=mailing_list, attestation=CONSENT, actor=""
    )
    with pytest.raises(KeyboardInterrupt):
        importing.import_file(batch=batch, path=path, chunk_rows=4)
    batch.refresh_from_db()
    assert (batch.status, Subscriber.objects.count()) == (ImportStatus.RUNNING, 4)

    monkeypatch.setattr(importing, "_import_chunk", original)
    call_command(
        "import_subscribers",
        str(path),
        "--newsletter",
        "proj",
        "--list",
        "news",
        "--consent",
        CONSENT,
        "--resume",
        str(batch.pk),
    )
    batch.refresh_from_db()
    assert (batch.status, batch.rows, batch.created) == (ImportStatus.DONE, 9, 9)
    assert Subscriber.objects.count() == ConsentEvent.objects.count() == 9


def test_a_time_zone_column_sets_each_readers_zone_and_an_unknown_one_is_a_bad_row(
    tmp_path, mailing_list
):
    known = SubscriberFactory(newsletter=mailing_list.newsletter, email="kept@example.org")
    Subscriber.objects.filter(pk=known.pk).update(time_zone="Europe/Oslo")
    path = write(
        tmp_path,
        "email,name,time_zone,city\n"
        "kenji@example.org,Kenji,Asia/Tokyo,Osaka\n"
        "ruth@example.org,Ruth,,Boston\n"
        "lost@example.org,Lost,Mars/Olympus,\n"
        "kept@example.org,,America/New_York,\n",
    )
    batch = run(mailing_list, path)
    zones = dict(Subscriber.objects.values_list("email", "time_zone"))
    assert zones == {
        "kenji@example.org": "Asia/Tokyo",
        "ruth@example.org": "",
        "kept@example.org": "Europe/Oslo",  # a zone already known is kept
    }
    assert Subscriber.objects.get(email="kenji@example.org").attributes == {"city": "Osaka"}
    ((line, reason),) = problems(batch)
    assert line == 4 and "unknown time zone 'Mars/Olympus'" in reason
