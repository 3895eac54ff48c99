"""Keyset ("cursor") pagination on the primary key: constant cost on any page of 1M rows."""

import base64
import binascii

from django.db.models import QuerySet

from .errors import field_error

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def encode(pk: int) -> str:
    return base64.urlsafe_b64encode(str(pk).encode()).decode().rstrip("=")


def decode(cursor: str) -> int:
    try:
        value = int(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise field_error("cursor", "Not a cursor from a previous page.") from None
    if value < 0:
        raise field_error("cursor", "Not a cursor from a previous page.")
    return value


def page(queryset: QuerySet, cursor: str | None, limit: int) -> tuple[list, str | None]:
    """One page of ``queryset`` (ordered by pk) after ``cursor``, and the next cursor."""
    if cursor:
        queryset = queryset.filter(pk__gt=decode(cursor))
    items = list(queryset.order_by("pk")[: limit + 1])
    if len(items) > limit:
        return items[:limit], encode(items[limit - 1].pk)
    return items, None
