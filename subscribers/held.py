"""What we hold: the person's data export (``personal_data.export_person``), in plain words.

The page behind the data link shows exactly what the download holds, so the two
cannot drift apart: this module only turns codes into their labels and ISO
timestamps back into dates for the template. Nothing is left out.
"""

from datetime import datetime

from django.utils.text import capfirst

from .models import (
    ConsentAction,
    ConsentSource,
    Frequency,
    MailFormat,
    SubscriberStatus,
    SubscriptionStatus,
    SuppressionReason,
    TrackingChoice,
)
from .personal_data import export_person

LABELS = {
    "status": dict(SubscriberStatus.choices),
    "subscription": dict(SubscriptionStatus.choices),
    "frequency": dict(Frequency.choices),
    "tracking": dict(TrackingChoice.choices),
    "mail_format": dict(MailFormat.choices),
    "action": dict(ConsentAction.choices),
    "source": dict(ConsentSource.choices),
    "reason": dict(SuppressionReason.choices),
}
# The export's own keys, shown by the page's own sections; any other key is what
# another app keeps (consultation answers, referrals…), shown as a table of its rows.
SHOWN = frozenset(
    {
        "newsletter",
        "name",
        "language",
        "attributes",
        "status",
        "tracking_opt_out",
        "tracking",
        "mail_format",
        "time_zone",
        "paused_until",
        "paused_indefinitely",
        "created_at",
        "subscriptions",
        "consent_history",
        "deliveries",
        "opens_and_clicks",
    }
)


def held_about(contact) -> dict:
    """The export of everything kept about the contact's person, ready to read."""
    export = export_person(contact)
    return {
        "email": export["email"],
        "newsletters": [_newsletter(each) for each in export["newsletters"]],
        "suppressions": [
            {**each, "reason": _label("reason", each["reason"]), "since": _date(each["since"])}
            for each in export["suppressions"]
        ],
    }


def _newsletter(data: dict) -> dict:
    return {
        **{key: data[key] for key in ("newsletter", "name", "language", "attributes", "time_zone")},
        "status": _label("status", data["status"]),
        "tracking": _label("tracking", data["tracking"]),
        "mail_format": _label("mail_format", data["mail_format"]),
        "paused_until": _date(data["paused_until"]),
        "paused_indefinitely": data["paused_indefinitely"],
        "created_at": _date(data["created_at"]),
        "subscriptions": [
            {
                **each,
                "status": _label("subscription", each["status"]),
                "frequency": _label("frequency", each["frequency"]),
                **_dates(each, "subscribed_at", "confirmed_at", "unsubscribed_at"),
            }
            for each in data["subscriptions"]
        ],
        "consent_history": [
            {
                **each,
                "action": _label("action", each["action"]),
                "source": _label("source", each["source"]),
                "at": _date(each["at"]),
            }
            for each in data["consent_history"]
        ],
        "deliveries": [
            {
                **each,
                "status": _words(each["status"]),
                **_dates(each, "sent_at", "delivered_at", "bounced_at", "complained_at"),
                "feedback": [
                    {**event, "kind": _words(event["kind"]), "at": _date(event["at"])}
                    for event in each["feedback"]
                ],
            }
            for each in data["deliveries"]
        ],
        "opens_and_clicks": [
            {**each, "kind": _words(each["kind"]), "at": _date(each["at"])}
            for each in data["opens_and_clicks"]
        ],
        "more": [
            section
            for key, value in data.items()
            if key not in SHOWN
            for section in _sections(key, value)
        ],
    }


def _sections(key: str, value) -> list[dict]:
    """Another app's records as titled tables of rows of (label, value): a list of
    records is one section, a dict of such lists one section per key; empty ones go."""
    if isinstance(value, dict) and all(isinstance(each, list) for each in value.values()):
        return [section for sub, each in value.items() for section in _sections(sub, each)]
    records = value if isinstance(value, list) else [value]
    rows = [
        [(_words(label), item) for label, item in record.items()]
        if isinstance(record, dict)
        else [("", record)]
        for record in records
        if record not in (None, "", [], {})
    ]
    return [{"title": _words(key), "rows": rows}] if rows else []


def _label(kind: str, code: str) -> str:
    return str(LABELS[kind].get(code, _words(code or "")))


def _words(code: str) -> str:
    return capfirst(str(code).replace("_", " "))


def _date(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _dates(record: dict, *keys: str) -> dict:
    return {key: _date(record[key]) for key in keys}
