"""CSV files uploaded in the dashboard, from upload to a queued import.

A file waits under ``IMPORT_DIR/pending/<newsletter>/<token>.csv`` while its
columns are mapped and checked. Mapping rewrites it into Crier's own format
(``email``, ``name``, then one column per attribute), line for line, so the lines
``importing`` reports are the lines of the uploaded file. Files recognised as an
export of another tool (listmonk, Mailchimp, Mailman 3) are imported as they are.
"""

import csv
import re
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import models, transaction
from django.utils.translation import gettext_lazy as _

from newsletter.models import Newsletter

from . import importing, tasks
from .fields import FieldSchema
from .models import ImportBatch, MailingList

TOKEN = re.compile(r"[0-9a-f]{32}")
# A file nobody went on to import is removed when the next upload arrives.
STALE_AFTER_SECONDS = 24 * 3600
SAMPLE_ROWS = 3
ENCODING = "utf-8-sig"  # what importing reads: a spreadsheet's byte-order mark is dropped


class Column(models.TextChoices):
    EMAIL = "email", _("Email address")
    NAME = "name", _("Name")
    TIME_ZONE = "time_zone", _("Time zone (an IANA name such as Europe/Paris)")
    ATTRIBUTE = "attribute", _("Attribute (keeps the column's name)")
    IGNORE = "ignore", _("Ignore")


def _folder(newsletter: Newsletter) -> Path:
    return Path(settings.IMPORT_DIR) / "pending" / str(newsletter.pk)


def store_upload(*, newsletter: Newsletter, upload: UploadedFile) -> str:
    """Keep the upload, chunk by chunk, and return the token that names it."""
    folder = _folder(newsletter)
    folder.mkdir(parents=True, exist_ok=True)
    _remove_stale(folder)
    token = uuid.uuid4().hex
    with (folder / f"{token}.csv").open("wb") as destination:
        for chunk in upload.chunks():
            destination.write(chunk)
    (folder / f"{token}.name").write_text(Path(upload.name or "").name[:255], encoding="utf-8")
    return token


def _remove_stale(folder: Path) -> None:
    cutoff = time.time() - STALE_AFTER_SECONDS
    for path in folder.iterdir():
        if path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)


def source_name(path: Path) -> str:
    """The name the file had on the uploader's computer."""
    name = path.with_suffix(".name")
    return name.read_text(encoding="utf-8") if name.is_file() else ""


def uploaded(newsletter: Newsletter, token: str) -> Path:
    """The waiting file; FileNotFoundError for a token that names none (or is malformed)."""
    path = _folder(newsletter) / f"{token}.csv"
    if not TOKEN.fullmatch(token) or not path.is_file():
        raise FileNotFoundError(token)
    return path


@dataclass(frozen=True)
class Sample:
    header: list[str]
    rows: list[list[str]]
    format: str

    @property
    def needs_mapping(self) -> bool:
        """Only Crier's own, free-form format has columns to map; exports have theirs."""
        return self.format == "csv"


def sample(path: Path) -> Sample:
    """The header and first rows, and which format ``importing`` will read the file as."""
    with path.open(newline="", encoding=ENCODING, errors="replace") as stream:
        reader = csv.reader(stream)
        header = [column.strip() for column in next(reader, [])]
        if not any(header):
            raise ValidationError(_("The file is empty."), code="empty")
        rows = [row for _, row in zip(range(SAMPLE_ROWS), reader, strict=False)]
    return Sample(header, rows, importing.detect_format(header))


def guess_mapping(header: list[str]) -> list[str]:
    """A first mapping: columns called like an address or a name, the rest attributes."""
    mapping = []
    for column in header:
        key = re.sub(r"[^a-z]", "", column.lower())
        if key in ("email", "emailaddress", "mail") and Column.EMAIL not in mapping:
            mapping.append(Column.EMAIL)
        elif key in ("name", "fullname", "displayname") and Column.NAME not in mapping:
            mapping.append(Column.NAME)
        elif key in ("timezone", "tz", "zone") and Column.TIME_ZONE not in mapping:
            mapping.append(Column.TIME_ZONE)
        else:
            mapping.append(Column.ATTRIBUTE)
    return mapping


def check_mapping(header: list[str], mapping: list[str]) -> None:
    """One address column, at most one name, and attributes whose names stay attributes."""
    if mapping.count(Column.EMAIL) != 1:
        raise ValidationError(_("Choose exactly one column for the email address."))
    if mapping.count(Column.NAME) > 1:
        raise ValidationError(_("Choose at most one column for the name."))
    if mapping.count(Column.TIME_ZONE) > 1:
        raise ValidationError(_("Choose at most one column for the time zone."))
    for column, use in zip(header, mapping, strict=True):
        if use == Column.ATTRIBUTE and column.lower() in ("email", "name", "time_zone", ""):
            raise ValidationError(
                _(
                    "A column without a name, or called email, name or time_zone, cannot be "
                    "an attribute."
                )
            )


def write_mapped(*, source: Path, destination: Path, mapping: list[str]) -> int:
    """Rewrite ``source`` in Crier's format, one output line per input line; return the
    number of lines, which is where the import's progress ends."""
    kept = [index for index, use in enumerate(mapping) if use != Column.IGNORE]
    with (
        source.open(newline="", encoding=ENCODING, errors="replace") as incoming,
        destination.open("w", newline="", encoding="utf-8") as outgoing,
    ):
        reader = csv.reader(incoming)
        writer = csv.writer(outgoing, lineterminator="\n")
        header = [column.strip() for column in next(reader)]
        writer.writerow([_output_name(header[i], mapping[i]) for i in kept])
        writer.writerows(_mapped_rows(reader, kept, len(header)))
        return reader.line_num


def _output_name(column: str, use: str) -> str:
    return column if use == Column.ATTRIBUTE else str(use)


def _mapped_rows(reader: Iterable[list[str]], kept: list[int], width: int):
    for fields in reader:
        if not fields:
            yield fields  # a blank line stays one, so line numbers still match
            continue
        row = [fields[i] if i < len(fields) else "" for i in kept]
        # A row longer than the header stays longer, so the import still reports it.
        yield row + fields[width:]


def _count_lines(path: Path) -> int:
    with path.open(newline="", encoding=ENCODING, errors="replace") as stream:
        reader = csv.reader(stream)
        for _row in reader:
            pass
        return reader.line_num


def _prepared(source: Path, mapping: list[str] | None) -> tuple[Path, int]:
    """The file to import (mapped beside the upload, or the upload itself) and its lines."""
    if mapping is None:
        return source, _count_lines(source)
    destination = source.with_suffix(".mapped")
    return destination, write_mapped(source=source, destination=destination, mapping=mapping)


def check(
    *, path: Path, mapping: list[str] | None, schema: FieldSchema | None = None
) -> importing.DryRun:
    """A dry run of the upload under this mapping (None: imported as it is), with the
    newsletter's custom fields checked by type when ``schema`` is given."""
    prepared, _lines = _prepared(path, mapping)
    try:
        return importing.dry_run(path=prepared, schema=schema)
    finally:
        if prepared != path:
            prepared.unlink(missing_ok=True)


@transaction.atomic
def queue_import(
    *,
    newsletter: Newsletter,
    mailing_list: MailingList,
    path: Path,
    mapping: list[str] | None,
    attestation: str,
    actor: str,
) -> ImportBatch:
    """Record the batch and hand the (mapped) file to a worker once the batch is committed."""
    prepared, lines = _prepared(path, mapping)
    queued = Path(settings.IMPORT_DIR) / f"{uuid.uuid4().hex}.csv"
    try:
        batch = importing.start_import(
            newsletter=newsletter,
            mailing_list=mailing_list,
            attestation=attestation,
            actor=actor,
            source_name=source_name(path),
            lines_total=lines,
        )
    except ValidationError:
        if prepared != path:
            prepared.unlink(missing_ok=True)
        raise
    prepared.replace(queued)
    path.unlink(missing_ok=True)
    path.with_suffix(".name").unlink(missing_ok=True)
    tasks.import_subscribers.delay_on_commit(batch.pk, str(queued))
    return batch
