"""``/api/v1/imports/``: upload a CSV; a Celery worker imports it; poll for the result."""

import uuid
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import File, Form, Router, Status
from ninja.files import UploadedFile

from newsletter.models import Role
from newsletter.uploads import MaxUploadSize
from subscribers import importing, tasks
from subscribers.import_formats import AUTO
from subscribers.models import ImportBatch

from .auth import actor, require
from .errors import from_django
from .lists import lists_by_slug
from .schemas import Error, ImportOut

router = Router(tags=["imports"])
SHOWN_PROBLEMS = 1000
PRESENTED = [
    "id",
    "status",
    "format",
    "rows",
    "created",
    "subscribed",
    "unchanged",
    "suppressed",
    "suppressions_added",
    "duplicates",
    "bad_rows",
    "error",
    "created_at",
    "finished_at",
]


def _present(batch: ImportBatch) -> dict:
    return {
        **{field: getattr(batch, field) for field in PRESENTED},
        "list": batch.mailing_list.slug,
        "problems": list(batch.problems.values("line", "reason")[:SHOWN_PROBLEMS]),
    }


def _store(upload: UploadedFile) -> Path:
    """Copy the upload where the worker can read it, chunk by chunk (never whole in memory)."""
    folder = Path(settings.IMPORT_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}.csv"
    with path.open("wb") as destination:
        for chunk in upload.chunks():
            destination.write(chunk)
    return path


@router.post("/", response={202: ImportOut, 403: Error, 422: Error}, summary="Import a CSV")
def create_import(
    request: HttpRequest,
    file: File[UploadedFile],
    list: Form[str],
    consent: Form[str],
    format: Form[str] = AUTO,
):
    """Multipart upload: ``file`` (CSV with an ``email`` column, or a listmonk, Mailchimp
    or Mailman 3 export), ``list`` (slug), ``consent`` (how these people consented) and
    ``format`` (``csv``, ``listmonk``, ``mailchimp``, ``mailman3``; detected when left
    out). Rows an export marks unsubscribed, cleaned or blocklisted become suppressions.
    Answers 202 at once; ``GET /imports/<id>/`` shows progress and bad rows by line."""
    require(request, Role.EDITOR)
    try:
        MaxUploadSize("IMPORT_UPLOAD_MAX_BYTES")(file)
    except ValidationError as error:
        raise from_django(error, "file") from None
    mailing_list = lists_by_slug(request, [list])[0]
    try:
        batch = importing.start_import(
            newsletter=request.newsletter,
            mailing_list=mailing_list,
            attestation=consent,
            actor=actor(request),
            source_name=file.name or "",
            format_name=format,
        )
    except ValidationError as error:
        field = {
            "unknown_format": "format",
            "archived_list": "list",
        }.get(error.code, "consent")
        raise from_django(error, field) from None
    tasks.import_subscribers.delay_on_commit(batch.pk, str(_store(file)))
    return Status(202, _present(batch))


@router.get("/{batch_id}/", response={200: ImportOut, 404: Error, 422: Error})
def get_import(request: HttpRequest, batch_id: int):
    batch = get_object_or_404(
        ImportBatch.objects.select_related("mailing_list"),
        pk=batch_id,
        newsletter=request.newsletter,
    )
    return _present(batch)
