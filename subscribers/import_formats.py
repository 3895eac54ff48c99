"""What each supported export looks like, and how one of its rows becomes a Crier row.

A format is a reader (file lines to records) and a mapper (one record to a ``Row``).
Mappers are pure: no database, so the parser can run in a thread beside the merge.
Each one keeps the old tool's consent evidence (when the person opted in, when they
confirmed) so the consent ledger can cite it, and turns the old tool's "do not mail"
states (Mailchimp's unsubscribed and cleaned exports, listmonk's blocklist) into
suppressions, never into subscriptions.

Formats:

- ``csv``: Crier's own; a header row with ``email``, optional ``name``, any other
  column becomes an attribute.
- ``listmonk``: listmonk's subscriber export (``uuid, email, name, attributes,
  status, created_at, updated_at``; ``attributes`` is a JSON object).
- ``mailchimp``: Mailchimp's audience exports (``subscribed_members_export``,
  ``unsubscribed_members_export``, ``cleaned_members_export``: "Email Address",
  "First Name", "Last Name", merge fields, then ``OPTIN_TIME`` … ``TAGS``).
- ``mailman3``: Mailman 3 member lists, no header: the ``mailman members LIST``
  command's lines (``Name <address>``, names RFC 2047-encoded when not ASCII) or
  Postorius's "Download as CSV" (one address per row).
"""

import csv
import ipaddress
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from email.utils import parseaddr

from django.core.exceptions import ValidationError

from newsletter.models import known_timezones

from .models import SuppressionReason

CSV = "csv"
LISTMONK = "listmonk"
MAILCHIMP = "mailchimp"
MAILMAN3 = "mailman3"
AUTO = "auto"
FORMAT_CHOICES = (CSV, LISTMONK, MAILCHIMP, MAILMAN3)


class RowError(ValueError):
    """A row that cannot be imported; the message is shown with its line number."""


@dataclass(frozen=True)
class Row:
    """One person from the file, and what to do with them.

    ``suppress`` names a suppression reason when the old tool says not to mail this
    address (the row then adds a suppression and subscribes nobody). ``evidence``
    is the old tool's record of the consent (times, never personal data: the ledger
    keeps it after an erasure), copied into the ledger event. ``ip_address`` is where
    the person confirmed from; the ledger keeps it (erasably) only when the
    newsletter records consent IP addresses.
    """

    email: str
    name: str = ""
    attributes: dict = field(default_factory=dict)
    evidence: dict = field(default_factory=dict)
    ip_address: str = ""
    suppress: str = ""
    note: str = ""
    time_zone: str = ""


@dataclass(frozen=True)
class Record:
    """One logical row of the file: the line it starts on, the line it ends on, fields."""

    line: int
    end_line: int
    fields: dict[str, str]
    extra_fields: int = 0


Mapper = Callable[[dict[str, str]], Row]


# Crier's own columns; every other one is an attribute.
OWN_COLUMNS = ("email", "name", "time_zone")


def _crier(record: dict[str, str]) -> Row:
    attributes = {key: value for key, value in record.items() if key not in OWN_COLUMNS and value}
    zone = record.get("time_zone", "").strip()
    if zone and zone not in known_timezones():
        raise RowError(f"unknown time zone {zone[:64]!r} (an IANA name such as Europe/Paris)")
    return Row(record.get("email", ""), record.get("name", ""), attributes, time_zone=zone)


def _listmonk(record: dict[str, str]) -> Row:
    """listmonk's export: uuid, email, name, attributes (JSON), status, created_at, updated_at."""
    status = record.get("status", "")
    if status == "disabled":
        raise RowError("disabled in listmonk")
    try:
        attributes = json.loads(record.get("attributes") or "{}")
    except json.JSONDecodeError as error:
        raise RowError(f"attributes are not valid JSON ({error.msg})") from None
    if not isinstance(attributes, dict):
        raise RowError("attributes must be a JSON object")
    evidence = _present(format=LISTMONK, created_at=record.get("created_at"))
    if status == "blocklisted":
        return Row(
            record["email"],
            suppress=SuppressionReason.UNSUBSCRIBED,
            note="Blocklisted in listmonk (imported).",
        )
    return Row(record["email"], record.get("name", ""), attributes, evidence)


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
    """Mailchimp's audience export; the unsubscribed and cleaned files add their columns."""
    if record.get("UNSUB_TIME"):
        reason = record.get("UNSUB_REASON") or "no reason given"
        return Row(
            record["Email Address"],
            suppress=SuppressionReason.UNSUBSCRIBED,
            note=f"Unsubscribed in Mailchimp on {record['UNSUB_TIME']} ({reason}).",
        )
    if record.get("CLEAN_TIME"):
        return Row(
            record["Email Address"],
            suppress=SuppressionReason.HARD_BOUNCE,
            note=f"Cleaned (bouncing) in Mailchimp on {record['CLEAN_TIME']}.",
        )
    name = f"{record.get('First Name', '')} {record.get('Last Name', '')}".strip()
    attributes = {
        key: value
        for key, value in record.items()
        if key not in MAILCHIMP_INTERNAL and value and not key.startswith(("UNSUB_", "CLEAN_"))
    }
    evidence = _present(
        format=MAILCHIMP,
        optin_time=record.get("OPTIN_TIME"),
        confirm_time=record.get("CONFIRM_TIME"),
    )
    ip_address = _valid_ip(record.get("CONFIRM_IP") or record.get("OPTIN_IP") or "")
    return Row(record["Email Address"], name, attributes, evidence, ip_address)


def _mailman3(record: dict[str, str]) -> Row:
    return Row(record["email"], record.get("name", ""), evidence={"format": MAILMAN3})


def _valid_ip(value: str) -> str:
    """An address PostgreSQL's ``inet`` accepts, or nothing (a bad one is not worth a row)."""
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return ""


def _present(**values: str | None) -> dict[str, str]:
    return {key: value for key, value in values.items() if value}


MAPPERS: dict[str, Mapper] = {
    CSV: _crier,
    LISTMONK: _listmonk,
    MAILCHIMP: _mailchimp,
    MAILMAN3: _mailman3,
}
EMAIL_COLUMNS = {CSV: "email", LISTMONK: "email", MAILCHIMP: "Email Address"}


def detect_format(first_row: list[str]) -> str:
    """Guess the format from the file's first row (its header, when it has one)."""
    header = {column.strip() for column in first_row}
    if "Email Address" in header:
        return MAILCHIMP
    if {"uuid", "email", "attributes"} <= header:
        return LISTMONK
    if first_row and "@" in first_row[0]:
        return MAILMAN3  # no header: an address on the first line
    return CSV


def check_header(header: list[str], format_name: str) -> None:
    """Refuse a file whose header lacks the format's address column."""
    email_column = EMAIL_COLUMNS.get(format_name)
    if email_column and email_column not in header:
        raise ValidationError(
            f"The header row has no {email_column!r} column.", code="missing_email_column"
        )


def csv_records(reader, header: list[str]) -> Iterator[Record]:
    """Records of a CSV file with a header row; rows longer than the header are flagged."""
    width = len(header)
    start = reader.line_num + 1
    for fields in reader:
        line, start = start, reader.line_num + 1
        if not fields:
            continue
        yield Record(
            line,
            reader.line_num,
            dict(zip(header, fields, strict=False)),
            max(len(fields) - width, 0),
        )


def mailman3_records(lines: Iterable[str]) -> Iterator[Record]:
    """Records of a Mailman 3 member list: ``Name <address>`` lines or address rows."""
    for number, text in enumerate(lines, start=1):
        text = text.strip()
        if not text or text.startswith("#"):  # what ``mailman members --add`` skips too
            continue
        if "<" in text:
            name, address = parseaddr(text)
            if not address:
                yield Record(number, number, {"email": text})
                continue
            yield Record(number, number, {"email": address, "name": _decoded(name)})
        else:
            fields = next(csv.reader([text]))
            name = fields[1] if len(fields) > 1 else ""
            yield Record(number, number, {"email": fields[0], "name": name})


def _decoded(name: str) -> str:
    """``mailman members`` writes non-ASCII names as RFC 2047 encoded words."""
    try:
        return str(make_header(decode_header(name)))
    except (UnicodeDecodeError, LookupError, ValueError):
        return name
