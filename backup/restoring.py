"""Restore a newsletter exported by ``exporting``, streamed, all or nothing.

Rows keep their primary keys (the consent ledger's hashes depend on them), so the
target must not hold rows with the same ids or addresses: a fresh instance, or one
the newsletter was deleted from. Any conflict, malformed line or altered consent
event rolls the whole restore back with a message saying which row.
"""

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.core import serializers
from django.core.management.color import no_style
from django.core.serializers.base import DeserializationError
from django.db import IntegrityError, connection, transaction

from newsletter.models import Newsletter
from subscribers import ledger
from subscribers.models import ConsentEvent, Suppression

from .exporting import FORMAT_VERSION, MODELS


class RestoreError(Exception):
    pass


@dataclass
class RestoreReport:
    newsletter: str
    counts: Counter = field(default_factory=Counter)
    # Subscribers whose chain continues in another newsletter's events (not exported).
    partial_chains: int = 0
    suppressions_already_known: int = 0


class _Chains:
    """Checks each consent event as it streams by: its own hash, and its link."""

    def __init__(self) -> None:
        self.subscriber_id: int | None = None
        self.last_hash = ""
        self.gap_in_current = False
        self.partial = 0

    def check(self, event: ConsentEvent) -> None:
        if ledger.content_hash(event) != event.hash:
            raise RestoreError(f"consent event {event.pk} was altered: its hash does not match")
        if event.subscriber_id != self.subscriber_id:
            self.subscriber_id, self.last_hash, self.gap_in_current = event.subscriber_id, "", False
        if event.previous_hash != self.last_hash and not self.gap_in_current:
            self.gap_in_current = True
            self.partial += 1
        self.last_hash = event.hash


def read_header(lines: Iterable[str]) -> dict:
    first = next(iter(lines), "")
    try:
        header = json.loads(first)
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("crier_export") != FORMAT_VERSION:
        raise RestoreError("not a Crier newsletter export (version 1): the first line is wrong")
    return header


@transaction.atomic
def restore(*, lines: Iterable[str]) -> RestoreReport:
    """Insert every row of an export read from ``lines`` (a file is fine)."""
    lines = iter(lines)
    header = read_header(lines)
    if Newsletter.objects.filter(slug=header["newsletter"]).exists():
        raise RestoreError(f"a newsletter “{header['newsletter']}” already exists here")
    report = RestoreReport(newsletter=header["newsletter"])
    chains = _Chains()
    try:
        for item in serializers.deserialize("jsonl", lines):
            _save(item, report, chains)
    except DeserializationError as error:
        raise RestoreError(f"malformed line: {error}") from None
    report.partial_chains = chains.partial
    _reset_sequences()
    return report


def _save(item, report: RestoreReport, chains: _Chains) -> None:
    row = item.object
    label = row._meta.label_lower
    if isinstance(row, ConsentEvent):
        chains.check(row)
    if isinstance(row, Suppression):
        # Instance-wide: one the target already knows is kept as it is.
        if Suppression.objects.filter(email_digest=row.email_digest).exists():
            report.suppressions_already_known += 1
            return
        row.pk = None
    try:
        # No savepoint per row: the first conflict aborts the whole restore anyway.
        item.save(force_insert=True)
    except IntegrityError as error:
        raise RestoreError(
            f"{label} {row.pk} conflicts with a row already here ({error}). "
            "Restore into an instance without these rows."
        ) from None
    report.counts[label] += 1


def _reset_sequences() -> None:
    """Explicit ids leave PostgreSQL's sequences behind; the next insert must not collide."""
    statements = connection.ops.sequence_reset_sql(no_style(), MODELS)
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
