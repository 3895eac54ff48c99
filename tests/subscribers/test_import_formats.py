"""Migrating from listmonk, Mailchimp and Mailman 3 with their real export files."""

from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from subscribers import importing, ledger, suppressions
from subscribers.models import (
    ConsentEvent,
    Subscriber,
    SubscriptionStatus,
    Suppression,
    SuppressionReason,
)
from tests.factories import MailingListFactory, SubscriptionFactory

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "imports"


def reason(email, mailing_list) -> str | None:
    """The one suppression that stops this list's newsletter mailing the address."""
    found = suppressions.reasons(email, mailing_list.newsletter)
    assert len(found) <= 1
    return next(iter(found), None)


CONSENT = "Subscribers of our previous newsletter tool, who opted in there."

pytestmark = pytest.mark.django_db


@pytest.fixture
def mailing_list():
    return MailingListFactory(newsletter__slug="proj", slug="news")


def run(mailing_list, path, **kwargs):
    batch = importing.start_import(
        newsletter=mailing_list.newsletter,
        mailing_list=mailing_list,
        attestation=CONSENT,
        actor="tester",
        source_name=path.name,
        **kwargs,
    )
    return importing.import_file(batch=batch, path=path)


def problems(batch) -> list[tuple[int, str]]:
    return list(batch.problems.order_by("line").values_list("line", "reason"))


def on_list(mailing_list) -> list[str]:
    return sorted(
        mailing_list.subscriptions.filter(status=SubscriptionStatus.CONFIRMED).values_list(
            "subscriber__email", flat=True
        )
    )


def test_listmonk_export(mailing_list):
    batch = run(mailing_list, FIXTURES / "listmonk_subscribers.csv")

    assert batch.format == "listmonk"
    assert on_list(mailing_list) == [
        "Grace.Hopper@example.com",
        "ada@example.org",
        "zoe@example.fr",
    ]
    ada = Subscriber.objects.get(email="ada@example.org")
    assert ada.name == "Ada Lovelace"
    assert ada.attributes == {"city": "London", "projects": ["engine"]}
    assert Subscriber.objects.get(email="zoe@example.fr").name == "Zoë Ångström-Łukasiewicz"
    assert Subscriber.objects.get(email__iexact="grace.hopper@example.com").name == "Hopper, Grace"
    assert problems(batch) == [
        (6, "disabled in listmonk"),
        (7, "invalid email address: An email address must have an @-sign."),
        (8, "attributes are not valid JSON (Expecting value)"),
    ]
    assert (batch.duplicates, batch.suppressions_added) == (1, 1)
    # Blocklisted in listmonk: suppressed here, and never a subscriber.
    assert reason("spam@example.net", mailing_list) == SuppressionReason.UNSUBSCRIBED
    assert not Subscriber.objects.filter(email="spam@example.net").exists()
    event = ConsentEvent.objects.get(subscriber=ada)
    assert event.details["evidence"] == {
        "format": "listmonk",
        "created_at": "2024-01-15 10:12:03.512345 +0000 UTC",
    }
    assert ledger.verify_chain(ada).valid


def test_mailchimp_subscribed_export_keeps_the_opt_in_evidence(mailing_list):
    batch = run(mailing_list, FIXTURES / "subscribed_members_export_4f2a9c1b7d.csv")

    assert batch.format == "mailchimp"
    assert on_list(mailing_list) == [
        "Katherine.Johnson@nasa.example",
        "margaret@example.org",
        "søren@example.dk",
    ]
    margaret = Subscriber.objects.get(email="margaret@example.org")
    assert margaret.name == "Margaret Hamilton"  # the first row wins over its duplicate
    assert margaret.attributes["Address"] == "1 Main St, Suite 2  Boston MA 02110 US"
    assert margaret.attributes["TAGS"] == '"apollo","guidance"'
    assert "MEMBER_RATING" not in margaret.attributes and "LEID" not in margaret.attributes
    assert (batch.duplicates, batch.bad_rows) == (1, 1)
    assert problems(batch)[0][0] == 5  # the spreadsheet-formula row
    event = ConsentEvent.objects.get(subscriber=margaret)
    assert event.details["evidence"] == {
        "format": "mailchimp",
        "optin_time": "2023-05-01 10:00:00",
        "confirm_time": "2023-05-01 10:02:11",
    }
    # This newsletter does not record consent IP addresses: Mailchimp's are dropped.
    assert event.ip_address is None and "203.0.113.7" not in str(event.details)
    assert ledger.verify_chain(margaret).valid


def test_mailchimp_confirm_ip_is_kept_only_when_the_newsletter_records_ips(mailing_list):
    mailing_list.newsletter.record_consent_ip = True
    mailing_list.newsletter.save()
    run(mailing_list, FIXTURES / "subscribed_members_export_4f2a9c1b7d.csv")

    margaret = Subscriber.objects.get(email="margaret@example.org")
    event = ConsentEvent.objects.get(subscriber=margaret)
    assert event.ip_address == "203.0.113.7"
    assert ledger.verify_chain(margaret).valid
    katherine = Subscriber.objects.get(email__iexact="katherine.johnson@nasa.example")
    assert ConsentEvent.objects.get(subscriber=katherine).ip_address is None
    # Erasure blanks the address, and the chain still verifies through its digest.
    ledger.erase_personal_data(margaret)
    assert ConsentEvent.objects.get(subscriber=margaret).ip_address is None
    assert ledger.verify_chain(margaret).valid


def test_mailchimp_unsubscribed_and_cleaned_exports_become_suppressions(mailing_list, tmp_path):
    still_here = SubscriptionFactory(
        mailing_list=mailing_list, subscriber__email="left@example.org"
    )
    unsubscribed = run(mailing_list, FIXTURES / "unsubscribed_members_export_4f2a9c1b7d.csv")
    cleaned = run(mailing_list, FIXTURES / "cleaned_members_export_4f2a9c1b7d.csv")

    assert (unsubscribed.suppressions_added, unsubscribed.created, unsubscribed.bad_rows) == (
        2,
        0,
        0,
    )
    assert (cleaned.suppressions_added, cleaned.created) == (1, 0)
    assert reason("Also.Left@example.org", mailing_list) == SuppressionReason.UNSUBSCRIBED
    assert reason("gone@defunct.example", mailing_list) == SuppressionReason.HARD_BOUNCE
    note = Suppression.objects.get(reason=SuppressionReason.HARD_BOUNCE).note
    assert note == "Cleaned (bouncing) in Mailchimp on 2023-05-05 05:05:05."
    # The file speaks for this newsletter only.
    assert set(Suppression.objects.values_list("newsletter", flat=True)) == {
        mailing_list.newsletter_id
    }
    # Someone already here who left Mailchimp stays on the list but is never mailed.
    assert on_list(mailing_list) == ["left@example.org"]
    assert reason(still_here.subscriber.email, mailing_list)
    assert not ConsentEvent.objects.exists()

    # A later subscribed export (or any CSV) does not bring them back.
    path = tmp_path / "later.csv"
    path.write_text("Email Address,First Name\nalso.left@example.org,Also\n")
    again = run(mailing_list, path)
    assert (again.created, again.suppressed) == (0, 1)


def test_a_cleaned_address_hardens_an_earlier_unsubscribe(mailing_list, tmp_path):
    newsletter = mailing_list.newsletter
    suppressions.suppress(
        email="gone@defunct.example", reason=SuppressionReason.UNSUBSCRIBED, newsletter=newsletter
    )
    run(mailing_list, FIXTURES / "cleaned_members_export_4f2a9c1b7d.csv")
    assert reason("gone@defunct.example", mailing_list) == SuppressionReason.HARD_BOUNCE
    suppressions.suppress(
        email="x@example.org", reason=SuppressionReason.COMPLAINT, newsletter=newsletter
    )
    header = "Email Address,UNSUB_TIME\n"
    (tmp_path / "unsub.csv").write_text(f"{header}x@example.org,2024-01-01 00:00:00\n")
    run(mailing_list, tmp_path / "unsub.csv")
    assert reason("x@example.org", mailing_list) == SuppressionReason.COMPLAINT


def test_mailman_members_command_output(mailing_list):
    batch = run(mailing_list, FIXTURES / "mailman_members.txt")

    assert batch.format == "mailman3"
    assert on_list(mailing_list) == [
        "abhilash@example.org",
        "barry@example.org",
        "francois@example.fr",
        "tokio@example.org",
        "yamada@example.jp",
    ]
    assert Subscriber.objects.get(email="barry@example.org").name == "Barry Warsaw"
    assert Subscriber.objects.get(email="francois@example.fr").name == "François Pigné"
    assert Subscriber.objects.get(email="yamada@example.jp").name == "山田太郎"
    assert batch.duplicates == 1  # "Warsaw, Barry" <Barry@Example.org>
    assert [line for line, _ in problems(batch)] == [6]  # mark@example
    event = ConsentEvent.objects.get(subscriber__email="tokio@example.org")
    assert event.details["evidence"] == {"format": "mailman3"}


def test_postorius_csv_download(mailing_list):
    batch = run(mailing_list, FIXTURES / "postorius_Subscribers.csv")
    assert batch.format == "mailman3"
    assert on_list(mailing_list) == ["aurelien@example.org", "terri@example.org"]
    assert (batch.rows, batch.duplicates, batch.bad_rows) == (4, 1, 1)


def test_a_named_format_is_used_even_when_detection_would_guess_otherwise(mailing_list, tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text("email\nada@example.org\n")
    batch = run(mailing_list, path, format_name="mailman3")
    assert batch.format == "mailman3"
    assert problems(batch) == [(1, "invalid email address: An email address must have an @-sign.")]
    assert on_list(mailing_list) == ["ada@example.org"]


def test_a_named_format_needs_its_address_column(mailing_list):
    with pytest.raises(ValidationError, match="no 'Email Address' column"):
        run(mailing_list, FIXTURES / "listmonk_subscribers.csv", format_name="mailchimp")


def test_an_unknown_format_is_refused_before_anything_is_recorded(mailing_list):
    with pytest.raises(ValidationError, match="Unknown format 'excel'"):
        importing.start_import(
            newsletter=mailing_list.newsletter,
            mailing_list=mailing_list,
            attestation=CONSENT,
            actor="",
            format_name="excel",
        )


def test_command_takes_a_format_and_counts_suppressions_as_imported(mailing_list, capsys):
    call_command(
        "import_subscribers",
        str(FIXTURES / "unsubscribed_members_export_4f2a9c1b7d.csv"),
        "--newsletter",
        "proj",
        "--list",
        "news",
        "--consent",
        CONSENT,
        "--format",
        "mailchimp",
    )
    out = capsys.readouterr().out
    assert "Import" in out and "(mailchimp)" in out and "2 suppressions added" in out
