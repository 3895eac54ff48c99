import csv
import io
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from subscribers import suppressions, tasks
from subscribers.exporting import escape_cell
from subscribers.models import ImportBatch, ImportStatus, SubscriptionStatus, SuppressionReason
from tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "imports"


def test_upload_is_queued_then_imported_by_the_task(api, news, settings, tmp_path, monkeypatch):
    settings.IMPORT_DIR = tmp_path
    queued = []
    monkeypatch.setattr(
        tasks.import_subscribers, "delay_on_commit", lambda *args: queued.append(args)
    )
    upload = SimpleUploadedFile(
        "Subscribers.csv", (FIXTURES / "postorius_Subscribers.csv").read_bytes()
    )
    response = api.post(
        "/api/v1/imports/",
        {"file": upload, "list": "news", "consent": "Members of our Mailman list"},
        format="multipart",
    )
    assert response.status_code == 202, response.content
    batch_id = response.json()["id"]
    assert response.json()["status"] == "running"
    [(queued_id, path)] = queued
    assert queued_id == batch_id and Path(path).parent == tmp_path

    tasks.import_subscribers(batch_id, path)  # what the worker runs
    body = api.get(f"/api/v1/imports/{batch_id}/").json()
    assert body["status"] == ImportStatus.DONE
    assert (body["format"], body["created"], body["duplicates"]) == ("mailman3", 2, 1)
    assert body["problems"] == [
        {"line": 3, "reason": "invalid email address: An email address must have an @-sign."}
    ]
    assert not Path(path).exists()
    assert ImportBatch.objects.get().actor.startswith("robot")


def test_upload_names_its_format_and_an_unsubscribed_export_adds_suppressions(
    api, news, settings, tmp_path, monkeypatch
):
    settings.IMPORT_DIR = tmp_path
    queued = []
    monkeypatch.setattr(
        tasks.import_subscribers, "delay_on_commit", lambda *args: queued.append(args)
    )
    export = FIXTURES / "unsubscribed_members_export_4f2a9c1b7d.csv"
    upload = SimpleUploadedFile(export.name, export.read_bytes())
    response = api.post(
        "/api/v1/imports/",
        {"file": upload, "list": "news", "consent": "Mailchimp audience", "format": "mailchimp"},
        format="multipart",
    )
    assert response.status_code == 202, response.content
    tasks.import_subscribers(*queued[0])
    body = api.get(f"/api/v1/imports/{response.json()['id']}/").json()
    assert (body["format"], body["suppressions_added"], body["created"]) == ("mailchimp", 2, 0)
    assert suppressions.reasons("also.left@example.org", news.newsletter) == {
        SuppressionReason.UNSUBSCRIBED
    }


def test_upload_refuses_an_unknown_format(api, news):
    upload = SimpleUploadedFile("x.csv", b"email\na@example.org\n")
    response = api.post(
        "/api/v1/imports/",
        {"file": upload, "list": "news", "consent": "Yes", "format": "excel"},
        format="multipart",
    )
    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["format"]
    assert not ImportBatch.objects.exists()


def test_upload_validates_its_fields(api, news):
    upload = SimpleUploadedFile("x.csv", b"email\na@example.org\n")
    response = api.post(
        "/api/v1/imports/", {"file": upload, "list": "nope", "consent": " "}, format="multipart"
    )
    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["lists"]
    upload.seek(0)
    response = api.post(
        "/api/v1/imports/", {"file": upload, "list": "news", "consent": " "}, format="multipart"
    )
    assert response.json()["errors"] == {"consent": ["Say how these people consented."]}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=SUM(A1)", "'=SUM(A1)"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@cmd", "'@cmd"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("Ada", "Ada"),
    ],
)
def test_formula_cells_are_escaped(value, expected):
    assert escape_cell(value) == expected


def test_export_streams_the_list_as_safe_csv(api, news):
    SubscriptionFactory(
        mailing_list=news,
        subscriber__email="ada@example.org",
        subscriber__name="=HYPERLINK(1)",
    )
    SubscriptionFactory(
        mailing_list=news,
        subscriber__email="bob@example.org",
        subscriber__name="Bob",
        subscriber__attributes={"k": "v"},
        status=SubscriptionStatus.UNSUBSCRIBED,
    )
    response = api.get("/api/v1/lists/news/export.csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    assert response.streaming
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["email", "name", "status", "subscribed_at", "confirmed_at", "attributes"]
    assert [row[:3] for row in rows[1:]] == [
        ["ada@example.org", "'=HYPERLINK(1)", "confirmed"],
        ["bob@example.org", "Bob", "unsubscribed"],
    ]
    assert rows[2][5] == '{"k": "v"}'
    assert api.get("/api/v1/lists/nope/export.csv").status_code == 404


def test_export_command_writes_csv(news, capsys):
    SubscriptionFactory(mailing_list=news, subscriber__email="ada@example.org")
    call_command("export_subscribers", "--newsletter", "proj", "--list", "news")
    assert "ada@example.org" in capsys.readouterr().out


def test_export_of_a_slug_postgresql_cannot_store_is_refused_not_crashed(api, news):
    assert api.get("/api/v1/lists/a%00b/export.csv").status_code == 422
