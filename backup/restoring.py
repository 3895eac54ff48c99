"""Restore a newsletter exported by ``exporting``, streamed, all or nothing.

Rows keep their primary keys (the consent ledger's hashes depend on them), so the
target must not hold rows with the same ids: a fresh instance, or one the newsletter
was deleted from. Any conflict, malformed line, altered consent event or broken
chain rolls the whole restore back with a message saying which row. Suppressions
come back as the restored newsletter's own: nothing in one newsletter's file stops
another newsletter's mail on the target.
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
from subscribers.models import ConsentEvent, Suppression, SuppressionReason

from .exporting import FORMAT_VERSION, MODELS


class RestoreError(Exception):
    pass


@dataclass
class RestoreReport:
    newsletter: str
    counts: Counter = field(default_factory=Counter)


class _Chains:
    """Checks each consent event as it streams by: its own hash, and its link.

    A contact's events are all its newsletter's, so an export holds every chain
    whole: a chain that does not start at the beginning or skips an event was cut.
    """

    def __init__(self) -> None:
        self.subscriber_id: int | None = None
        self.last_hash = ""

    def check(self, event: ConsentEvent) -> None:
        if ledger.content_hash(event) != event.hash:
            raise RestoreError(f"consent event {event.pk} was altered: its hash does not match")
        if event.subscriber_id != self.subscriber_id:
            self.subscriber_id, self.last_hash = event.subscriber_id, ""
        if event.previous_hash != self.last_hash:
            raise RestoreError(
                f"consent event {event.pk} does not follow its predecessor: the chain was cut"
            )
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


BATCH = 1000


@transaction.atomic
def restore(*, lines: Iterable[str]) -> RestoreReport:
    """Insert every row of an export read from ``lines`` (a file is fine)."""
    lines = iter(lines)
    header = read_header(lines)
    if Newsletter.objects.filter(slug=header["newsletter"]).exists():
        raise RestoreError(f"a newsletter “{header['newsletter']}” already exists here")
    report = RestoreReport(newsletter=header["newsletter"])
    chains = _Chains()
    batch: list = []
    try:
        for item in serializers.deserialize("jsonl", lines):
            if batch and (type(item.object) is not type(batch[0].object) or len(batch) >= BATCH):
                _insert(batch, report)
                batch = []
            if isinstance(item.object, ConsentEvent):
                chains.check(item.object)
            batch.append(item)
    except DeserializationError as error:
        raise RestoreError(f"malformed line: {error}") from None
    if batch:
        _insert(batch, report)
    _reset_sequences()
    return report


def _insert(items: list, report: RestoreReport) -> None:
    """One multi-row INSERT for a batch of rows of one model, values exactly as exported.

    ``raw=True`` is what ``loaddata`` and ``Model.save_base(raw=True)`` use: fields
    are stored as given, so ``auto_now``/``auto_now_add`` timestamps keep their
    exported values instead of becoming "now" as they would with ``bulk_create``.
    """
    model = type(items[0].object)
    fields = model._meta.concrete_fields
    if model is Suppression:
        items = _new_suppressions(items, report)
        fields = [field for field in fields if not field.primary_key]
    rows = [item.object for item in items]
    if not rows:
        return
    try:
        # No savepoint: the first conflict aborts the whole restore anyway.
        model._base_manager._insert(rows, fields=fields, raw=True)
    except IntegrityError as error:
        raise RestoreError(
            f"{model._meta.label_lower} conflicts with a row already here "
            f"({str(error).strip()}). Restore into an instance without these rows."
        ) from None
    for item in items:
        for accessor, values in (item.m2m_data or {}).items():
            getattr(item.object, accessor).set(values)
    report.counts[model._meta.label_lower] += len(rows)


def _new_suppressions(items: list, report: RestoreReport) -> list:
    """Every suppression in the file becomes the restored newsletter's own, once per
    address (the file may name one in both scopes, in this batch or an earlier one);
    as ``suppressions.suppress`` does, an unsubscribe gives way to any other reason."""
    newsletter = Newsletter.objects.get(slug=report.newsletter)
    fresh = {}
    for item in items:
        item.object.newsletter_id = newsletter.pk
        kept = fresh.setdefault(item.object.email_digest, item)
        if kept.object.reason == SuppressionReason.UNSUBSCRIBED:
            fresh[item.object.email_digest] = item
    inserted = Suppression.objects.filter(newsletter=newsletter, email_digest__in=fresh)
    for digest in inserted.values_list("email_digest", flat=True):
        del fresh[digest]
    return list(fresh.values())


def _reset_sequences() -> None:
    """Explicit ids leave PostgreSQL's sequences behind; the next insert must not collide."""
    statements = connection.ops.sequence_reset_sql(no_style(), MODELS)
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
