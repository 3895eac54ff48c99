"""A whole newsletter as JSON Lines, written row by row so memory stays flat.

Line 1 is a header (``{"crier_export": 1, ...}``); every other line is one row in
Django's ``jsonl`` serialisation (``{"model": ..., "pk": ..., "fields": {...}}``),
in dependency order, primary keys included: the consent ledger's hashes cover the
ids of the subscriber, newsletter and list, so a restore keeps them to keep every
chain verifiable. See docs/operations.md.
"""

import datetime
import io
import json
from collections.abc import Iterable, Iterator
from typing import TextIO

from django.core import serializers
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Q, QuerySet
from django.utils import timezone

from campaigns.models import Campaign, Layout
from newsletter.models import Newsletter
from subscribers.models import ConsentEvent, MailingList, Subscriber, Subscription, Suppression

FORMAT_VERSION = 1
CHUNK = 2000
# Who made a campaign is a user of this instance, meaningless on another one.
CAMPAIGN_FIELDS = [field.name for field in Campaign._meta.fields if field.name != "created_by"]
CAMPAIGN_FIELDS.append("lists")
# Every model a restore inserts, in order.
MODELS = [
    Newsletter,
    MailingList,
    Layout,
    Campaign,
    Subscriber,
    Subscription,
    ConsentEvent,
    Suppression,
]


class ExactJSONEncoder(DjangoJSONEncoder):
    """Django's encoder cuts times to milliseconds; the ledger hashes microseconds."""

    def default(self, o):
        if isinstance(o, datetime.datetime):
            return o.isoformat()
        return super().default(o)


def sections(newsletter: Newsletter) -> list[tuple[QuerySet, list[str] | None]]:
    """What is exported, in the order a restore must insert it."""
    people = Subscriber.objects.filter(newsletter=newsletter)
    return [
        (Newsletter.objects.filter(pk=newsletter.pk), None),
        (MailingList.objects.filter(newsletter=newsletter).order_by("pk"), None),
        (Layout.objects.filter(newsletter=newsletter).order_by("pk"), None),
        (Campaign.objects.filter(newsletter=newsletter).order_by("pk"), CAMPAIGN_FIELDS),
        (people.order_by("pk"), None),
        (Subscription.objects.filter(newsletter=newsletter).order_by("pk"), None),
        # Each contact's whole chain, in order: every event of a contact is its newsletter's.
        (
            ConsentEvent.objects.filter(subscriber__newsletter=newsletter).order_by(
                "subscriber_id", "pk"
            ),
            None,
        ),
        # The newsletter's own suppressions, and the instance-wide ones of the addresses
        # in its ledger (digests only): a restore makes them all the newsletter's own.
        (
            Suppression.objects.filter(
                Q(newsletter=newsletter)
                | Q(
                    newsletter__isnull=True,
                    email_digest__in=ConsentEvent.objects.filter(
                        subscriber__newsletter=newsletter
                    ).values("email_digest"),
                )
            ).order_by("pk"),
            None,
        ),
    ]


def export_newsletter(*, newsletter: Newsletter, stream: TextIO) -> dict[str, int]:
    """Write the newsletter to ``stream``; return the number of rows per model."""
    header = {
        "crier_export": FORMAT_VERSION,
        "newsletter": newsletter.slug,
        "exported_at": timezone.now().isoformat(),
    }
    stream.write(json.dumps(header) + "\n")
    counts = {}
    for queryset, fields in sections(newsletter):
        count = 0
        for chunk in _chunks(queryset.iterator(chunk_size=CHUNK)):
            # A chunk at a time: the serialiser makes many small writes per row.
            buffer = io.StringIO()
            serializers.serialize(
                "jsonl", chunk, stream=buffer, fields=fields, cls=ExactJSONEncoder
            )
            stream.write(buffer.getvalue())
            count += len(chunk)
        counts[queryset.model._meta.label_lower] = count
    return counts


def _chunks(rows: Iterable) -> Iterator[list]:
    chunk = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
