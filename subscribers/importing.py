"""Bulk CSV import: stream the file, COPY each chunk into a staging table, upsert by set.

The file is read row by row and never held whole: a chunk of ``CHUNK_ROWS`` rows
is validated in Python, copied into a temporary table and merged with a handful of
set-based statements, in one transaction that also records the chunk (its lines,
its counts). This thread parses the next chunk while two connections merge (the
database does most of the work, one core per connection). An interrupted import
therefore resumes with exactly the lines no committed chunk holds.

Formats (named, or detected from the first row): Crier's own CSV, listmonk's
subscriber export, Mailchimp's audience exports and Mailman 3's member lists; see
``import_formats``. Rows the old tool marks as "do not mail" become suppressions.
"""

import csv
import json
import logging
import re
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import OperationalError, connection, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext
from email_validator import SPECIAL_USE_DOMAIN_NAMES
from psycopg.errors import DeadlockDetected

from newsletter.models import Newsletter

from . import ledger
from .fields import FieldSchema
from .import_formats import (
    AUTO,
    FORMAT_CHOICES,
    MAILMAN3,
    MAPPERS,
    Record,
    RowError,
    check_header,
    csv_records,
    detect_format,
    mailman3_records,
)
from .ledger import BulkEntry, copy_text
from .models import (
    ConsentAction,
    ConsentSource,
    ImportBatch,
    ImportChunk,
    ImportProblem,
    ImportStatus,
    MailingList,
    Subscriber,
)
from .services import normalize_email

logger = logging.getLogger(__name__)

CHUNK_ROWS = 25_000
MERGE_CONNECTIONS = 2
DEADLOCK_RETRIES = 3
COUNTERS = (
    "rows",
    "created",
    "subscribed",
    "unchanged",
    "suppressed",
    "suppressions_added",
    "duplicates",
    "bad_rows",
)
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
    format_name: str = AUTO,
) -> ImportBatch:
    """Record an import before it starts: its attestation is what the ledger will cite.

    ``format_name`` is one of ``FORMAT_CHOICES``, or ``auto`` to detect it from the
    file's first row.
    """
    if mailing_list.newsletter_id != newsletter.pk:
        raise ValidationError("The list belongs to another newsletter.", code="foreign_list")
    if mailing_list.archived_at is not None:
        raise ValidationError(
            gettext("The list is archived: unarchive it to import into it."), code="archived_list"
        )
    if not attestation.strip():
        raise ValidationError("Say how these people consented.", code="attestation_required")
    if format_name not in (AUTO, *FORMAT_CHOICES):
        raise ValidationError(
            f"Unknown format {format_name!r}: use one of {', '.join((AUTO, *FORMAT_CHOICES))}.",
            code="unknown_format",
        )
    return ImportBatch.objects.create(
        newsletter=newsletter,
        mailing_list=mailing_list,
        attestation=attestation.strip(),
        actor=actor,
        source_name=source_name[:255],
        lines_total=lines_total,
        format=format_name,
    )


def import_file(*, batch: ImportBatch, path: Path, chunk_rows: int = CHUNK_ROWS) -> ImportBatch:
    """Import (or resume importing) ``path`` into the batch's list; return the batch.

    Not one transaction on purpose: each chunk commits with its ``ImportChunk``, so
    a million-row file neither holds a huge transaction nor restarts from zero.
    """
    if batch.status == ImportStatus.DONE:
        return batch
    ImportBatch.objects.filter(pk=batch.pk).update(status=ImportStatus.RUNNING, error="")
    keep_ips = Newsletter.objects.filter(pk=batch.newsletter_id, record_consent_ip=True).exists()
    committed = list(batch.chunks.values_list("first_line", "last_line"))
    # Loaded here, once, rather than by each merging thread.
    batch.newsletter, batch.mailing_list  # noqa: B018
    try:
        with open(path, newline="", encoding="utf-8-sig", errors="replace") as stream:
            records = _records(stream, batch)
            parsed = _chunks(
                records,
                batch.format,
                committed=committed,
                chunk_rows=chunk_rows,
                keep_ips=keep_ips,
                schema=FieldSchema.of(batch.newsletter),
            )
            _merge_all(batch, parsed)
    except Exception as error:
        ImportBatch.objects.filter(pk=batch.pk).update(
            status=ImportStatus.FAILED, error=str(error)[:1000]
        )
        raise
    finally:
        _refresh_progress(batch)
    ImportBatch.objects.filter(pk=batch.pk).update(
        status=ImportStatus.DONE, finished_at=timezone.now()
    )
    batch.refresh_from_db()
    return batch


def _merge_all(batch: ImportBatch, chunks: Iterator["Chunk"]) -> None:
    """Merge the chunks, ``MERGE_CONNECTIONS`` at a time, each in its own transaction.

    PostgreSQL spends most of an import's time (index entries, foreign-key checks at
    commit) on one core per connection, so two connections merge about twice as fast
    on two cores. Inside a transaction (a caller's, or a test's) other connections
    could not see its rows: the chunks are then merged one by one on this connection.
    """
    if connection.in_atomic_block:
        for chunk in chunks:
            _import_chunk(batch=batch, chunk=chunk)
        return
    with ThreadPoolExecutor(MERGE_CONNECTIONS, thread_name_prefix="import-merge") as pool:
        running: set[Future] = set()
        try:
            while True:
                # A free connection first, then parse the next chunk (this thread parses
                # while the others merge): at most one chunk more than are merging.
                if len(running) >= MERGE_CONNECTIONS:
                    finished, running = wait(running, return_when=FIRST_COMPLETED)
                    _raise_failure(finished)
                    _refresh_progress(batch)
                if (chunk := next(chunks, None)) is None:
                    break
                running.add(pool.submit(_merge_in_thread, batch, chunk))
            finished, running = wait(running)
            _raise_failure(finished)
        finally:
            wait(running)


def _raise_failure(finished: set[Future]) -> None:
    for future in finished:
        future.result()


def _merge_in_thread(batch: ImportBatch, chunk: "Chunk") -> None:
    """Merge one chunk on this thread's connection; retry it if it lost a deadlock.

    Two chunks holding the same addresses (a file's duplicates) can lock them in
    opposite orders; PostgreSQL then rolls one back, and redoing it is safe.
    """
    try:
        for attempt in range(DEADLOCK_RETRIES + 1):
            try:
                _import_chunk(batch=batch, chunk=chunk)
                return
            except OperationalError as error:
                lost = isinstance(error.__cause__, DeadlockDetected)
                if attempt == DEADLOCK_RETRIES or not lost:
                    raise
    finally:
        connection.close()  # this thread's own connection


def _refresh_progress(batch: ImportBatch) -> None:
    """Sum the committed chunks into the batch (idempotent: safe after any interruption)."""
    totals = batch.chunks.aggregate(**{name: Sum(name) for name in COUNTERS})
    lines_done = 0
    for first_line, last_line in batch.chunks.order_by("first_line").values_list(
        "first_line", "last_line"
    ):
        if first_line > lines_done + 1:
            break  # a chunk before this one is not committed yet
        lines_done = max(lines_done, last_line)
    for name in COUNTERS:
        setattr(batch, name, totals[name] or 0)
    batch.lines_done = lines_done
    ImportBatch.objects.filter(pk=batch.pk).update(
        lines_done=lines_done, **{name: totals[name] or 0 for name in COUNTERS}
    )


@dataclass
class Chunk:
    good: list[str] = field(default_factory=list)  # COPY: line, email, name, attributes, …
    suppress: list[str] = field(default_factory=list)  # COPY: line, email, reason, note
    problems: list[tuple[int, str]] = field(default_factory=list)
    first_line: int = 0
    last_line: int = 0
    rows: int = 0


def _records(stream, batch: ImportBatch) -> Iterator[Record]:
    """The file's records, once its format is settled (and saved on the batch)."""
    format_name, records = _read(stream, batch.format)
    if batch.format != format_name:
        ImportBatch.objects.filter(pk=batch.pk).update(format=format_name)
        batch.format = format_name
    return records


def _read(stream, format_name: str) -> tuple[str, Iterator[Record]]:
    """The file's format (``format_name``, or detected when ``auto``) and its records."""
    reader = csv.reader(stream)
    try:
        first_row = [column.strip() for column in next(reader)]
    except StopIteration:
        raise ValidationError("The file is empty.", code="empty") from None
    if format_name == AUTO:
        format_name = detect_format(first_row)
    check_header(first_row, format_name)
    if format_name == MAILMAN3:  # no header: the first line is a member too
        stream.seek(0)
        return format_name, mailman3_records(stream)
    return format_name, csv_records(reader, first_row)


def _chunks(
    records: Iterator[Record],
    format_name: str,
    *,
    committed: list[tuple[int, int]],
    chunk_rows: int,
    keep_ips: bool,
    schema: FieldSchema,
) -> Iterator[Chunk]:
    """Validated rows in chunks; touches no database (it runs beside the merges).

    ``committed`` are the line ranges of chunks an earlier run committed: skipped.
    Chunks tile the file (each starts on the line after the previous one ended, blank
    lines included) unless committed lines lie between them.
    """
    mapper = MAPPERS[format_name]
    chunk = Chunk()
    next_first = 1  # the first chunk covers the header too
    for record in records:
        if any(first <= record.end_line <= last for first, last in committed):
            next_first = 0
            continue
        if not chunk.rows:
            chunk.first_line = next_first or record.line
        chunk.rows += 1
        chunk.last_line = record.end_line
        try:
            suppression, copy_line = _parsed(record, mapper, keep_ips=keep_ips, schema=schema)
        except (RowError, ValidationError, KeyError) as error:
            chunk.problems.append((record.line, _reason(error)))
        else:
            (chunk.suppress if suppression else chunk.good).append(copy_line)
        if chunk.rows >= chunk_rows:
            yield chunk
            next_first = chunk.last_line + 1
            chunk = Chunk()
    if chunk.rows:
        yield chunk


def _parsed(record: Record, mapper, *, keep_ips: bool, schema: FieldSchema) -> tuple[bool, str]:
    """One record as a COPY line, and whether it is a suppression (not a subscription).

    Columns named like a custom field (its key or its label) hold that field's values:
    each is checked and normalised by type, and a bad one rejects the row by its line.
    """
    if record.extra_fields:
        width = len(record.fields)
        raise RowError(f"{width + record.extra_fields} fields, the header has {width}")
    row = mapper(record.fields)
    email = copy_text(fast_normalize_email(row.email))
    if row.suppress:
        return True, f"{record.line}\t{email}\t{row.suppress}\t{copy_text(row.note)}\n"
    attributes = copy_text(json.dumps(_typed(row.attributes, schema), ensure_ascii=False))
    name = copy_text(row.name.strip()[:NAME_MAX])
    evidence = copy_text(json.dumps(row.evidence, ensure_ascii=False)) if row.evidence else "\\N"
    ip_address = row.ip_address if keep_ips and row.ip_address else "\\N"
    line = f"{record.line}\t{email}\t{name}\t{attributes}\t{evidence}\t{ip_address}"
    return False, f"{line}\t{row.time_zone}\n"


def _typed(attributes: dict, schema: FieldSchema) -> dict:
    if not schema.fields:
        return attributes
    try:
        cleaned = schema.clean(attributes, match_labels=True)
    except ValidationError as error:
        raise RowError(" ".join(m for ms in error.message_dict.values() for m in ms)) from None
    # An empty cell leaves the stored value alone (an import only adds).
    return {key: value for key, value in cleaned.items() if value is not None}


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
    params = {"now": now, "list": batch.mailing_list_id, "newsletter": batch.newsletter_id}
    with connection.cursor() as cursor:
        # Not waiting for the WAL flush is safe: a chunk lost in a crash is lost together
        # with the progress that names it, so resuming redoes it. Finishing the batch
        # commits synchronously, which makes every chunk before it durable.
        cursor.execute("SET LOCAL synchronous_commit = off")
        # Suppressions first, so that the same address among this chunk's
        # subscriptions is then left alone like any suppressed one.
        suppressions = _add_suppressions(cursor, chunk.suppress, params) if chunk.suppress else 0
        cursor.execute(
            "CREATE TEMP TABLE import_rows (line bigint, email text, name text, attributes jsonb,"
            " evidence jsonb, ip_address inet, time_zone text) ON COMMIT DROP"
        )
        with cursor.copy(
            "COPY import_rows (line, email, name, attributes, evidence, ip_address, time_zone)"
            " FROM STDIN"
        ) as copy:
            copy.write("".join(chunk.good))
        # First row wins for an address repeated in the chunk (case-insensitively).
        cursor.execute(
            "CREATE TEMP TABLE import_good ON COMMIT DROP AS"
            " SELECT DISTINCT ON (lower(email)) line, email, lower(email) AS email_key, name,"
            " attributes, evidence, ip_address, time_zone,"
            " encode(sha256(convert_to('crier:' || lower(email), 'UTF8')), 'hex') AS digest,"
            " NULL::bigint AS subscriber_id,"
            " email AS stored_email, false AS existed, ''::text AS status"
            " FROM import_rows ORDER BY lower(email), line"
        )
        distinct = cursor.rowcount
        duplicates = len(chunk.good) - distinct
        cursor.execute(
            "DELETE FROM import_good g USING subscribers_suppression s"
            " WHERE s.email_digest = g.digest"
            " AND (s.newsletter_id IS NULL OR s.newsletter_id = %(newsletter)s)",
            params,
        )
        suppressed = cursor.rowcount
        created = _insert_new_subscribers(cursor, params)
        if created < distinct - suppressed:
            suppressed += _update_existing_subscribers(cursor, params)
        subscribed, unchanged = _subscribe(cursor, batch, params)
        # ON COMMIT DROP is not enough when the chunk runs inside an outer transaction.
        cursor.execute("DROP TABLE import_rows, import_good")
    problems = [ImportProblem(batch=batch, line=line, reason=r) for line, r in chunk.problems]
    ImportProblem.objects.bulk_create(problems, batch_size=5000)
    ImportChunk.objects.create(
        batch=batch,
        first_line=chunk.first_line,
        last_line=chunk.last_line,
        rows=chunk.rows,
        created=created,
        subscribed=subscribed,
        unchanged=unchanged,
        suppressed=suppressed,
        suppressions_added=suppressions,
        duplicates=duplicates,
        bad_rows=len(problems),
    )


def _add_suppressions(cursor, lines: list[str], params: dict) -> int:
    """Record what the old tool says not to mail, as ``suppressions.suppress`` would, in
    the importing newsletter only: a file is no evidence for any other newsletter.

    A stronger reason (a bounce) replaces an unsubscribe, never the other way round.
    """
    cursor.execute(
        "CREATE TEMP TABLE import_suppress (line bigint, email text, reason text, note text)"
        " ON COMMIT DROP"
    )
    with cursor.copy("COPY import_suppress (line, email, reason, note) FROM STDIN") as copy:
        copy.write("".join(lines))
    cursor.execute(
        "INSERT INTO subscribers_suppression (email_digest, newsletter_id, reason, note,"
        " created_at)"
        " SELECT DISTINCT ON (digest) digest, %(newsletter)s, reason, note, %(now)s FROM ("
        "  SELECT encode(sha256(convert_to('crier:' || lower(email), 'UTF8')), 'hex') AS digest,"
        "  reason, note, line FROM import_suppress) s"
        " ORDER BY digest, reason = 'unsubscribed', line"
        " ON CONFLICT (email_digest, newsletter_id) WHERE newsletter_id IS NOT NULL"
        " DO UPDATE SET reason = EXCLUDED.reason, note = EXCLUDED.note"
        " WHERE EXCLUDED.reason <> 'unsubscribed'"
        " AND subscribers_suppression.reason <> EXCLUDED.reason",
        params,
    )
    added = cursor.rowcount
    cursor.execute("DROP TABLE import_suppress")
    return added


def _insert_new_subscribers(cursor, params: dict) -> int:
    """Create the contacts the newsletter does not have yet; return how many.

    Inserting first, with the unique index deciding who exists, costs one index probe
    per row: looking existing people up first would scan the whole subscriber table
    once per chunk, a cost that grows with the table (most rows of a migration are new).
    """
    cursor.execute(
        "WITH inserted AS ("
        " INSERT INTO subscribers_subscriber (newsletter_id, email, name, language, attributes,"
        "  status, tracking_opt_out, created_at, updated_at, email_digest, time_zone)"
        "  SELECT %(newsletter)s, email, name, '', attributes, 'active', false, %(now)s, %(now)s,"
        "  digest, time_zone FROM import_good ORDER BY line"
        "  ON CONFLICT ((lower(email)), newsletter_id) DO NOTHING"
        "  RETURNING id, lower(email) AS email_key)"
        " UPDATE import_good g SET subscriber_id = i.id FROM inserted i"
        " WHERE g.email_key = i.email_key",
        params,
    )
    return cursor.rowcount


def _update_existing_subscribers(cursor, params: dict) -> int:
    """Pick up the newsletter's contacts that were already here; leave out the bounced,
    the complained and those who left every list.

    Returns how many were left out. Existing contacts are locked like services lock
    them (so their ledger chains stay linear) and their empty name and attributes
    completed: the newsletter's own contacts only, never another newsletter's.
    """
    # Fresh statistics tell the planner how few rows are left to look up, so that it
    # probes the index for them rather than scanning every subscriber.
    cursor.execute("ANALYZE import_good")
    cursor.execute(
        "UPDATE import_good g SET subscriber_id = s.id, stored_email = s.email,"
        " existed = true, status = s.status FROM subscribers_subscriber s"
        " WHERE g.subscriber_id IS NULL AND lower(s.email) = g.email_key"
        " AND s.newsletter_id = %(newsletter)s",
        params,
    )
    # Bounced and complained addresses are not mailed; people who left every list may
    # come back only by themselves (services.subscribe refuses an attestation too).
    cursor.execute(
        "DELETE FROM import_good WHERE status IN ('bounced', 'complained', 'unsubscribed')"
    )
    left_out = cursor.rowcount
    cursor.execute(
        "UPDATE subscribers_subscriber s SET"
        " name = CASE WHEN s.name = '' THEN g.name ELSE s.name END,"
        " time_zone = CASE WHEN s.time_zone = '' THEN g.time_zone ELSE s.time_zone END,"
        " attributes = s.attributes || g.attributes, updated_at = %(now)s"
        " FROM import_good g WHERE g.existed AND s.id = g.subscriber_id",
        params,
    )
    return left_out


def _subscribe(cursor, batch: ImportBatch, params: dict) -> tuple[int, int]:
    """Confirm the list for everyone in the chunk, except people who left it; ledger them."""
    targets = _count(cursor, "SELECT count(*) FROM import_good WHERE subscriber_id IS NOT NULL")
    cursor.execute(
        "WITH inserted AS ("
        " INSERT INTO subscribers_subscription (subscriber_id, mailing_list_id, newsletter_id,"
        "  status, created_at, confirmed_at)"
        "  SELECT subscriber_id, %(list)s, %(newsletter)s, 'confirmed', %(now)s, %(now)s"
        "  FROM import_good"
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
        "  ORDER BY e.id DESC LIMIT 1), '') ELSE '' END, g.evidence::text, host(g.ip_address)"
        " FROM import_good g JOIN changed c ON c.subscriber_id = g.subscriber_id",
        params,
    )
    details = {"batch": batch.pk, "attestation": batch.attestation, "actor": batch.actor}
    subscribed = ledger.bulk_append(
        entries=(
            # The old tool's record of this person's consent, when the file has one.
            BulkEntry(
                sid,
                email,
                previous,
                {**details, "evidence": json.loads(evidence)} if evidence else None,
                ip_address,
            )
            for sid, email, previous, evidence, ip_address in cursor  # one row at a time
        ),
        action=ConsentAction.IMPORTED,
        source=ConsentSource.IMPORT,
        newsletter=batch.newsletter,
        mailing_list=batch.mailing_list,
        wording=batch.attestation,
        details=details,
        created_at=params["now"],
    )
    return subscribed, targets - subscribed


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


def dry_run(
    *,
    path: Path,
    shown: int = 1000,
    format_name: str = AUTO,
    schema: FieldSchema | None = None,
) -> DryRun:
    """Read and validate the whole file as ``import_file`` would, writing nothing.

    Problems found only against the database (suppressed or duplicate addresses)
    are left to the real import, which reports them in its counts.
    """
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as stream:
        format_name, records = _read(stream, format_name)
        report = DryRun(format=format_name, rows=0, bad_rows=0, problems=[])
        chunks = _chunks(
            records,
            format_name,
            committed=[],
            chunk_rows=CHUNK_ROWS,
            keep_ips=False,
            schema=schema or FieldSchema({}),
        )
        for chunk in chunks:
            report.rows += chunk.rows
            report.bad_rows += len(chunk.problems)
            report.problems.extend(chunk.problems[: max(0, shown - len(report.problems))])
    return report
