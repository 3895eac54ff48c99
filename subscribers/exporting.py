"""Streamed CSV export of a list, safe to open in a spreadsheet."""

import csv
import json
from collections.abc import Iterator

from django.db.models import QuerySet

from .models import MailingList, Subscriber, Subscription

HEADER = ["email", "name", "status", "subscribed_at", "confirmed_at", "attributes"]
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value: str) -> str:
    """Prefix a would-be formula with a quote, as OWASP recommends."""
    return f"'{value}" if value.startswith(FORMULA_TRIGGERS) else value


class _Echo:
    def write(self, value: str) -> str:
        return value


def export_list(mailing_list: MailingList) -> Iterator[str]:
    """CSV lines for everyone on the list (pending and unsubscribed included, with status).

    Rows are fetched with a server-side cursor, so memory stays flat on any list size.
    """
    writer = csv.writer(_Echo())
    yield writer.writerow(HEADER)
    rows = (
        Subscription.objects.filter(mailing_list=mailing_list, subscriber__email__isnull=False)
        .order_by("subscriber_id")
        .values_list(
            "subscriber__email",
            "subscriber__name",
            "status",
            "created_at",
            "confirmed_at",
            "subscriber__attributes",
        )
        .iterator(chunk_size=2000)
    )
    for email, name, status, created_at, confirmed_at, attributes in rows:
        cells = [
            email,
            name,
            status,
            created_at.isoformat(),
            confirmed_at.isoformat() if confirmed_at else "",
            json.dumps(attributes, ensure_ascii=False) if attributes else "",
        ]
        yield writer.writerow([escape_cell(cell) for cell in cells])


EXPORT_CHUNK = 2000
CONTACT_HEADER = ["email", "name", "status", "lists", "created_at", "attributes"]


def export_contacts(contacts: QuerySet[Subscriber]) -> Iterator[str]:
    """CSV lines for some of a newsletter's contacts (``selectors.subscribers_of``),
    each with its lists as ``slug:status`` pairs; erased ones (no address) left out.

    A chunk of contacts at a time by id (keyset: each chunk its own short query, no
    cursor held open while the client downloads), with their subscriptions (two
    queries a chunk), so memory stays flat on any selection.
    """
    writer = csv.writer(_Echo())
    yield writer.writerow(CONTACT_HEADER)
    contacts = contacts.filter(email__isnull=False).order_by("pk")
    last = 0
    while chunk := list(contacts.filter(pk__gt=last)[:EXPORT_CHUNK]):
        for contact in chunk:
            lists = " ".join(
                f"{subscription.mailing_list.slug}:{subscription.status}"
                for subscription in contact.subscriptions.all()
            )
            cells = [
                contact.email,
                contact.name,
                contact.status,
                lists,
                contact.created_at.isoformat(),
                json.dumps(contact.attributes, ensure_ascii=False) if contact.attributes else "",
            ]
            yield writer.writerow([escape_cell(cell) for cell in cells])
        last = chunk[-1].pk
