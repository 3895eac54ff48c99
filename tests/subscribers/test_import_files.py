"""Uploaded files between upload and import: mapping keeps line numbers, dry runs write nothing."""

import os
import time

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from subscribers import import_files, importing
from subscribers.import_files import Column
from subscribers.models import Subscriber
from tests.factories import NewsletterFactory

pytestmark = pytest.mark.django_db

EXPORT = (
    "Notes,Address,Who\n"
    '"two\nlines",ada@example.org,Ada\n'
    "\n"
    "plain,not-an-address,Bob\n"
    "x,grace@example.org,Grace,extra\n"
)


def test_mapping_rewrites_the_file_line_for_line(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text(EXPORT)
    mapped = tmp_path / "out.csv"
    lines = import_files.write_mapped(
        source=source,
        destination=mapped,
        mapping=[Column.ATTRIBUTE, Column.EMAIL, Column.NAME],
    )
    assert lines == 6
    report = importing.dry_run(path=mapped)
    # Line 5 is the bad address even after a two-line field and a blank line;
    # line 6 is longer than the header, and still reported as such.
    assert report.format == "csv"
    assert [line for line, _reason in report.problems] == [5, 6]
    assert "invalid email address" in report.problems[0][1]
    assert "fields, the header has" in report.problems[1][1]
    assert (report.rows, report.bad_rows) == (3, 2)  # a blank line is no row
    assert not Subscriber.objects.exists()


def test_ignored_columns_are_dropped_and_attributes_keep_their_names(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("Mail,Team,Secret\nada@example.org,core,s3cr3t\n")
    mapped = tmp_path / "out.csv"
    import_files.write_mapped(
        source=source, destination=mapped, mapping=[Column.EMAIL, Column.ATTRIBUTE, Column.IGNORE]
    )
    assert mapped.read_text() == "email,Team\nada@example.org,core\n"


def test_the_first_mapping_is_guessed_from_the_header():
    assert import_files.guess_mapping(["E-mail", "Full name", "city", "email"]) == [
        Column.EMAIL,
        Column.NAME,
        Column.ATTRIBUTE,
        Column.ATTRIBUTE,
    ]


@pytest.mark.parametrize(
    ("header", "mapping", "message"),
    [
        (["a", "b"], [Column.ATTRIBUTE, Column.ATTRIBUTE], "exactly one column"),
        (["a", "b", "c"], [Column.EMAIL, Column.NAME, Column.NAME], "at most one column"),
        (["a", "name"], [Column.EMAIL, Column.ATTRIBUTE], "cannot be an attribute"),
    ],
)
def test_impossible_mappings_are_refused(header, mapping, message):
    with pytest.raises(ValidationError, match=message):
        import_files.check_mapping(header, mapping)


def test_known_exports_need_no_mapping(tmp_path):
    path = tmp_path / "mailchimp.csv"
    path.write_text("Email Address,First Name,Last Name\nada@example.org,Ada,Lovelace\n")
    sample = import_files.sample(path)
    assert (sample.format, sample.needs_mapping) == ("mailchimp", False)


def test_an_empty_file_is_refused(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(ValidationError, match="empty"):
        import_files.sample(path)


def test_uploads_are_found_by_token_only_within_their_newsletter(settings, tmp_path):
    settings.IMPORT_DIR = tmp_path
    ours, theirs = NewsletterFactory(), NewsletterFactory()
    token = import_files.store_upload(
        newsletter=ours, upload=SimpleUploadedFile("people.csv", b"email\na@example.org\n")
    )
    assert import_files.uploaded(ours, token).read_bytes() == b"email\na@example.org\n"
    assert import_files.source_name(import_files.uploaded(ours, token)) == "people.csv"
    for newsletter, name in ((theirs, token), (ours, "../" + token), (ours, "0" * 32)):
        with pytest.raises(FileNotFoundError):
            import_files.uploaded(newsletter, name)


def test_an_upload_nobody_imported_is_removed_a_day_later(settings, tmp_path):
    settings.IMPORT_DIR = tmp_path
    newsletter = NewsletterFactory()
    old = import_files.store_upload(
        newsletter=newsletter, upload=SimpleUploadedFile("old.csv", b"email\n")
    )
    old_path = import_files.uploaded(newsletter, old)
    day_ago = time.time() - import_files.STALE_AFTER_SECONDS - 60
    os.utime(old_path, (day_ago, day_ago))
    import_files.store_upload(newsletter=newsletter, upload=SimpleUploadedFile("new.csv", b"x"))
    assert not old_path.exists()
