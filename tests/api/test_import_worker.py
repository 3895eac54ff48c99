"""An upload through the API, imported by a real Celery worker from the real broker."""

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from subscribers import ledger
from subscribers.models import ImportBatch, ImportStatus, Subscriber
from tests.api.conftest import make_api
from tests.conftest import wait_for
from tests.factories import MailingListFactory, NewsletterFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "imports"


def test_uploaded_mailchimp_export_is_imported_by_the_worker(worker, settings, tmp_path):
    uploads = tmp_path / "uploads"
    settings.IMPORT_DIR = uploads
    newsletter = NewsletterFactory(slug="proj")
    MailingListFactory(newsletter=newsletter, slug="news")
    api = make_api(newsletter)
    export = FIXTURES / "subscribed_members_export_4f2a9c1b7d.csv"
    upload = SimpleUploadedFile(export.name, export.read_bytes())
    response = api.post(
        "/api/v1/imports/",
        {"file": upload, "list": "news", "consent": "Mailchimp audience, double opt-in"},
        format="multipart",
    )
    assert response.status_code == 202

    batch = wait_for(
        lambda: ImportBatch.objects.filter(status=ImportStatus.DONE).first(), timeout=60
    )
    assert (batch.format, batch.created, batch.bad_rows) == ("mailchimp", 3, 1)
    assert "subscribers.tasks.import_subscribers" in worker.output()
    margaret = Subscriber.objects.get(email="margaret@example.org")
    assert ledger.verify_chain(margaret).valid
    wait_for(lambda: not any(uploads.iterdir()))  # the upload is removed once imported
