"""Bulk CSV import: stream the file, COPY each chunk into a staging table, upsert by set.

The file is read row by row and never held whole: a chunk of ``CHUNK_ROWS`` rows
is validated in Python, copied into a temporary table and merged with a handful of
set-based statements, in one transaction that also records the batch's progress.
An interrupted import therefore resumes after its last committed line.

Formats (chosen from the header): Crier's own (``email``, ``name``, any other column
becomes an attribute), listmonk's subscriber export, Mailchimp's audience export
and Mailman 3's member export.
"""

import contextlib
import csv
import json
import logging
import queue
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from email_validator import SPECIAL_USE_DOMAIN_NAMES

from newsletter.models import Newsletter

from . import ledger
from .ledger import BulkEntry, copy_text
from .models import (
    ConsentAction,
    ConsentSource,
    ImportBatch,
    ImportProblem,
    ImportStatus,
    MailingList,
    Subscriber,
)
from .services import normalize_email

logger = logging.getLogger(__name__)

CHUNK_ROWS = 25_000
NAME_MAX = Subscriber._meta.get_field("name").max_length

# Plain ASCII addresses that email-validator accepts and normalises by lower-casing the
# domain only; anything else (IDN, quoted, odd TLDs) goes through email-validator itself.
_SIMPLE_EMAIL = re.compile(
    r"([A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*)@"
    r"((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+([A-Za-z]{2,63}))"
)
_SPECIAL_TLDS = frozenset(SPECIAL_USE_DOMAIN_NAMES)


def fast_normalize_email(raw: str) -> str:
    """``normalize_email`` with a fast path for the common case (most rows of a big file)."""
    value = raw.strip()
    match = _SIMPLE_EMAIL.fullmatch(value)
    if (
        match is None
        or len(value) > 254
        or len(match[1]) > 64
        or "--" in match[2]
        or match[3].lower() in _SPECIAL_TLDS
    ):
        return normalize_email(value)
    return f"{match[1]}@{match[2].lower()}"


class RowError(ValueError):
    """A row that cannot be imported; the message is shown with its line number."""


@dataclass(frozen=True)
class Row:
    email: str
    name: str
    attributes: dict


Mapper = Callable[[dict[str, str]], Row]


def _crier(record: dict[str, str]) -> Row:
    attributes = {
        key: value for key, value in record.items() if key not in ("email", "name") and value
    }
    return Row(record.get("email", ""), record.get("name", ""), attributes)


def _listmonk(record: dict[str, str]) -> Row:
    """listmonk's export: uuid, email, name, attributes (JSON), status, created_at, updated_at."""
    if record.get("status") == "blocklisted":
        raise RowError("blocklisted in listmonk")
    try:
        attributes = json.loads(record.get("attributes") or "{}")
    except json.JSONDecodeError as error:
        raise RowError(f"attributes are not valid JSON ({error.msg})") from None
    if not isinstance(attributes, dict):
        raise RowError("attributes must be a JSON object")
    return Row(record["email"], record.get("name", ""), attributes)


MAILCHIMP_INTERNAL = {
    "Email Address",
    "First Name",
    "Last Name",
    "MEMBER_RATING",
    "OPTIN_TIME",
    "OPTIN_IP",
    "CONFIRM_TIME",
    "CONFIRM_IP",
    "LATITUDE",
    "LONGITUDE",
    "GMTOFF",
    "DSTOFF",
    "TIMEZONE",
    "CC",
    "REGION",
    "LAST_CHANGED",
    "LEID",
    "EUID",
    "NOTES",
}


def _mailchimp(record: dict[str, str]) -> Row:
    """Mailchimp's audience export; the unsubscribed and cleaned files carry these columns."""
    if record.get("UNSUB_TIME"):
        raise RowError("unsubscribed in Mailchimp")
    if record.get("CLEAN_TIME"):
        raise RowError("cleaned (bouncing) in Mailchimp")
    name = f"{record.get('First Name', '')} {record.get('Last Name', '')}".strip()
    attributes = {
        key: value
        for key, value in record.items()
        if key not in MAILCHIMP_INTERNAL and value and not key.startswith(("UNSUB_", "CLEAN_"))
    }
    return Row(record["Email Address"], name, attributes)


def _mailman(record: dict[str, str]) -> Row:
    """Mailman 3's member export: email, display_name, then delivery settings."""
    attributes = {
        f"mailman_{key}": value
        for key, value in record.items()
        if key not in ("email", "display_name") and value
    }
    return Row(record["email"], record.get("display_name", ""), attributes)


FORMATS: dict[str, tuple[str, Mapper]] = {
    "crier": ("email", _crier),
    "listmonk": ("email", _listmonk),
    "mailchimp": ("Email Address", _mailchimp),
    "mailman": ("email", _mailman),
}


def detect_format(header: list[str]) -> str:
    if "Email Address" in header:
        return "mailchimp"
    if {"uuid", "email", "attributes"} <= set(header):
        return "listmonk"
    if {"email", "display_name"} <= set(header):
        return "mailman"
    return "crier"


def check_header(header: list[str], format_name: str) -> None:
    email_column = FORMATS[format_name][0]
    if email_column not in header:
        raise ValidationError(
            f"The header row has no {email_column!r} column.", code="missing_email_column"
        )


# Batches


@transaction.atomic
def start_import(
    *,
    newsletter: Newsletter,
    mailing_list: MailingList,
    attestation: str,
    actor: str,
    source_name: str = "",
    lines_total: int = 0,
) -> ImportBatch:
    """Record an import before it starts: its attestation is what the ledger will cite."""
    if connection.vendor != "postgresql":
        raise ValidationError(
            "Bulk import needs PostgreSQL (it uses COPY); set DATABASE_URL.",
            code="needs_postgresql",
        )
    if mailing_list.newsletter_id != newsletter.pk:
        raise ValidationError("The list belongs to another newsletter.", code="foreign_list")
    if not attestation.strip():
        raise ValidationError("Say how these people consented.", code="attestation_required")
    return ImportBatch.objects.create(
        newsletter=newsletter,
        mailing_list=mailing_list,
        attestation=attestation.strip(),
        actor=actor,
        source_name=source_name[:255],
        lines_total=lines_total,
    )


def import_file(*, batch: ImportBatch, path: Path, chunk_rows: int = CHUNK_ROWS) -> ImportBatch:
    """Import (or resume importing) ``path`` into the batch's list; return the batch.

    Not one transaction on purpose: each chunk commits with the batch's progress, so
    a million-row file neither holds a huge transaction nor restarts from zero.
    """
    if batch.status == ImportStatus.DONE:
        return batch
    ImportBatch.objects.filter(pk=batch.pk).update(status=ImportStatus.RUNNING, error="")
    try:
        with open(path, newline="", encoding="utf-8-sig", errors="replace") as stream:
            reader = csv.reader(stream)
            header = _read_header(reader, batch)
            for chunk in _prefetched(_chunks(reader, header, batch, chunk_rows)):
                _import_chunk(batch=batch, chunk=chunk)
    except Exception as error:
        ImportBatch.objects.filter(pk=batch.pk).update(
            status=ImportStatus.FAILED, error=str(error)[:1000]
        )
        raise
    ImportBatch.objects.filter(pk=batch.pk).update(
        status=ImportStatus.DONE, finished_at=timezone.now()
    )
    batch.refresh_from_db()
    return batch


@dataclass
class Chunk:
    good: list[str]  # COPY lines: line, email, name, attributes
    problems: list[tuple[int, str]]
    last_line: int
    rows: int


def _read_header(reader, batch: ImportBatch) -> list[str]:
    try:
        header = [column.strip() for column in next(reader)]
    except StopIteration:
        raise ValidationError("The file is empty.", code="empty") from None
    format_name = detect_format(header)
    check_header(header, format_name)
    if batch.format != format_name:
        ImportBatch.objects.filter(pk=batch.pk).update(format=format_name)
        batch.format = format_name
    return header


def _prefetched(chunks: Iterator[Chunk]) -> Iterator[Chunk]:
    """Parse the next chunk in a thread while the database merges this one.

    The parser is pure Python and the merge mostly waits on PostgreSQL (which
    releases the GIL), so on two cores the two overlap. One chunk ahead at most,
    so memory stays bounded by two chunks.
    """
    ahead: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for chunk in chunks:
                ahead.put(chunk)
                if stop.is_set():
                    return
        except Exception as error:  # handed to the consumer, raised there
            ahead.put(error)
        ahead.put(done)

    thread = threading.Thread(target=produce, name="import-parser", daemon=True)
    thread.start()
    try:
        while (item := ahead.get()) is not done:
            if isinstance(item, Exception):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting to hand over a chunk
            with contextlib.suppress(queue.Empty):
                ahead.get(timeout=0.1)
        thread.join()


def _chunks(reader, header: list[str], batch: ImportBatch, chunk_rows: int) -> Iterator[Chunk]:
    """Validated rows in chunks; touches no database, so it can run in a thread."""
    mapper = FORMATS[batch.format][1]
    width = len(header)
    skip_until = batch.lines_done  # where a resumed import stopped
    chunk = Chunk([], [], 0, 0)
    start = reader.line_num + 1
    for fields in reader:
        line, start = start, reader.line_num + 1
        if reader.line_num <= skip_until or not fields:
            continue
        chunk.rows += 1
        chunk.last_line = reader.line_num
        if len(fields) > width:
            chunk.problems.append((line, f"{len(fields)} fields, the header has {width}"))
        else:
            try:
                row = mapper(dict(zip(header, fields, strict=False)))
                email = fast_normalize_email(row.email)
            except (RowError, ValidationError, KeyError) as error:
                chunk.problems.append((line, _reason(error)))
            else:
                attributes = json.dumps(row.attributes, ensure_ascii=False)
                chunk.good.append(
                    f"{line}\t{copy_text(email)}\t{copy_text(row.name.strip()[:NAME_MAX])}"
                    f"\t{copy_text(attributes)}\n"
                )
        if chunk.rows >= chunk_rows:
            yield chunk
            chunk = Chunk([], [], 0, 0)
    if chunk.rows:
        yield chunk


def _reason(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return f"invalid email address: {error.messages[0]}"
    if isinstance(error, KeyError):
        return "missing email address"
    return str(error)


@transaction.atomic
def _import_chunk(*, batch: ImportBatch, chunk: Chunk) -> None:
    """Merge one chunk, write its ledger events and problems, and advance the batch."""
    now = timezone.now()
    params = {"now": now, "list": batch.mailing_list_id}
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE import_rows (line bigint, email text, name text, attributes jsonb)"
            " ON COMMIT DROP"
        )
        with cursor.copy("COPY import_rows (line, email, name, attributes) FROM STDIN") as copy:
            copy.write("".join(chunk.good))
        # First row wins for an address repeated in the chunk (case-insensitively).
        cursor.execute(
            "CREATE TEMP TABLE import_good ON COMMIT DROP AS"
            " SELECT DISTINCT ON (lower(email)) line, email, lower(email) AS email_key, name,"
            " attributes, encode(sha256(convert_to('crier:' || lower(email), 'UTF8')), 'hex')"
            " AS digest, NULL::bigint AS subscriber_id, email AS stored_email, false AS existed,"
            " ''::text AS status"
            " FROM import_rows ORDER BY lower(email), line"
        )
        duplicates = len(chunk.good) - cursor.rowcount
        # Without statistics the planner would hash-join against every subscriber, once
        # per statement: the cost would grow with the table instead of the chunk.
        cursor.execute("ANALYZE import_good")
        cursor.execute(
            "DELETE FROM import_good g USING subscribers_suppression s"
            " WHERE s.email_digest = g.digest"
        )
        suppressed = cursor.rowcount
        cursor.execute(
            "UPDATE import_good g SET subscriber_id = s.id, stored_email = s.email,"
            " existed = true, status = s.status"
            " FROM subscribers_subscriber s WHERE lower(s.email) = g.email_key"
        )
        cursor.execute("DELETE FROM import_good WHERE status IN ('bounced', 'complained')")
        suppressed += cursor.rowcount
        created = _upsert_subscribers(cursor, params)
        subscribed, unchanged = _subscribe(cursor, batch, params)
        # ON COMMIT DROP is not enough when the chunk runs inside an outer transaction.
        cursor.execute("DROP TABLE import_rows, import_good")
    problems = [ImportProblem(batch=batch, line=line, reason=r) for line, r in chunk.problems]
    ImportProblem.objects.bulk_create(problems, batch_size=5000)
    batch.lines_done = chunk.last_line
    batch.rows += chunk.rows
    batch.created += created
    batch.subscribed += subscribed
    batch.unchanged += unchanged
    batch.suppressed += suppressed
    batch.duplicates += duplicates
    batch.bad_rows += len(problems)
    batch.save(
        update_fields=[
            "lines_done",
            "rows",
            "created",
            "subscribed",
            "unchanged",
            "suppressed",
            "duplicates",
            "bad_rows",
        ]
    )


def _upsert_subscribers(cursor, params: dict) -> int:
    """Insert new addresses; lock and complete the existing ones (empty name, attributes)."""
    cursor.execute(
        "WITH inserted AS ("
        " INSERT INTO subscribers_subscriber (email, name, language, attributes, status,"
        "  tracking_opt_out, created_at, updated_at, email_digest)"
        "  SELECT email, name, '', attributes, 'active', false, %(now)s, %(now)s, digest"
        "  FROM import_good WHERE subscriber_id IS NULL ORDER BY line"
        "  ON CONFLICT ((lower(email))) DO NOTHING RETURNING id, lower(email) AS email_key)"
        " UPDATE import_good g SET subscriber_id = i.id FROM inserted i"
        " WHERE g.email_key = i.email_key",
        params,
    )
    created = cursor.rowcount
    if _count(cursor, "SELECT count(*) FROM import_good WHERE subscriber_id IS NULL"):
        # Someone subscribed in between by another path: pick their row up as existing.
        cursor.execute(
            "UPDATE import_good g SET subscriber_id = s.id, stored_email = s.email,"
            " existed = true FROM subscribers_subscriber s"
            " WHERE g.subscriber_id IS NULL AND lower(s.email) = g.email_key"
        )
    # Existing people: the same row locks services take, so their ledger chains stay linear.
    cursor.execute(
        "UPDATE subscribers_subscriber s SET"
        " name = CASE WHEN s.name = '' THEN g.name ELSE s.name END,"
        " attributes = s.attributes || g.attributes, updated_at = %(now)s"
        " FROM import_good g WHERE g.existed AND s.id = g.subscriber_id",
        params,
    )
    return created


def _subscribe(cursor, batch: ImportBatch, params: dict) -> tuple[int, int]:
    """Confirm the list for everyone in the chunk, except people who left it; ledger them."""
    cursor.execute(
        "WITH inserted AS ("
        " INSERT INTO subscribers_subscription (subscriber_id, mailing_list_id, status,"
        "  created_at, confirmed_at)"
        "  SELECT subscriber_id, %(list)s, 'confirmed', %(now)s, %(now)s FROM import_good"
        "  WHERE subscriber_id IS NOT NULL ORDER BY subscriber_id"
        "  ON CONFLICT (subscriber_id, mailing_list_id) DO NOTHING RETURNING subscriber_id),"
        " confirmed AS ("
        " UPDATE subscribers_subscription sub SET status = 'confirmed', confirmed_at = %(now)s"
        "  FROM import_good g WHERE g.existed AND sub.subscriber_id = g.subscriber_id"
        "  AND sub.mailing_list_id = %(list)s AND sub.status = 'pending'"
        "  RETURNING sub.subscriber_id),"
        " changed AS (SELECT subscriber_id FROM inserted UNION ALL"
        "  SELECT subscriber_id FROM confirmed)"
        " SELECT g.subscriber_id, g.stored_email, CASE WHEN g.existed THEN COALESCE(("
        "  SELECT e.hash FROM subscribers_consentevent e WHERE e.subscriber_id = g.subscriber_id"
        "  ORDER BY e.id DESC LIMIT 1), '') ELSE '' END"
        " FROM import_good g JOIN changed c ON c.subscriber_id = g.subscriber_id",
        params,
    )
    rows = cursor.fetchall()
    targets = _count(cursor, "SELECT count(*) FROM import_good WHERE subscriber_id IS NOT NULL")
    ledger.bulk_append(
        entries=(BulkEntry(sid, email, previous) for sid, email, previous in rows),
        action=ConsentAction.IMPORTED,
        source=ConsentSource.IMPORT,
        newsletter=batch.newsletter,
        mailing_list=batch.mailing_list,
        wording=batch.attestation,
        details={"batch": batch.pk, "attestation": batch.attestation, "actor": batch.actor},
        created_at=params["now"],
    )
    return len(rows), targets - len(rows)


def _count(cursor, sql: str) -> int:
    cursor.execute(sql)
    return cursor.fetchone()[0]


# Dry run


@dataclass
class DryRun:
    """What an import of a file would skip, by line, found by the import's own rules."""

    format: str
    rows: int
    bad_rows: int
    problems: list[tuple[int, str]]  # the first ``shown`` of them


def dry_run(*, path: Path, shown: int = 1000) -> DryRun:
    """Read and validate the whole file as ``import_file`` would, writing nothing.

    Problems found only against the database (suppressed or duplicate addresses)
    are left to the real import, which reports them in its counts.
    """
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as stream:
        reader = csv.reader(stream)
        try:
            header = [column.strip() for column in next(reader)]
        except StopIteration:
            raise ValidationError("The file is empty.", code="empty") from None
        format_name = detect_format(header)
        check_header(header, format_name)
        report = DryRun(format=format_name, rows=0, bad_rows=0, problems=[])
        # An unsaved batch: the validator reads only its format and where to start.
        checking = ImportBatch(format=format_name)
        for chunk in _chunks(reader, header, checking, CHUNK_ROWS):
            report.rows += chunk.rows
            report.bad_rows += len(chunk.problems)
            report.problems.extend(chunk.problems[: max(0, shown - len(report.problems))])
    return report
