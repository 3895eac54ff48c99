"""Streamed CSV export of a list, safe to open in a spreadsheet."""

import csv
import json
from collections.abc import Iterator

from .models import MailingList, Subscription

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
