"""The last check before a message is handed to a backend: no header value may hold a
line break (``newsletter.headers``). Kept apart from ``messages`` so that anything
that builds a message (test sends, backend tests) can use it without importing the
campaign machinery."""

from django.core.mail import EmailMultiAlternatives

from newsletter.headers import header_value

# anymail batch messages (messages.MergeTemplate): merge fields filling the subject.
SUBJECT_FIELD_PREFIX = "s"


def check_headers(message: EmailMultiAlternatives) -> EmailMultiAlternatives:
    """Refuse a message any of whose header values holds a line break.

    Django checks only CR and LF, and only when it serialises the message, which
    anymail's API backends never do: they copy the subject, addresses and headers
    into the ESP's JSON, where the ESP builds the headers. So every value that
    becomes a header is checked here, including anymail's per-recipient merge
    headers and the merge fields that fill the subject.
    """
    values = [
        ("Subject", message.subject),
        ("From", message.from_email),
        *(("To", address) for address in message.to),
        *(("Cc", address) for address in message.cc),
        *(("Bcc", address) for address in message.bcc),
        *(("Reply-To", address) for address in message.reply_to),
        *message.extra_headers.items(),
    ]
    for headers in (getattr(message, "merge_headers", None) or {}).values():
        values += headers.items()
    for fields in (getattr(message, "merge_data", None) or {}).values():
        values += (
            (f"Subject ({name})", value)
            for name, value in fields.items()
            if name.startswith(SUBJECT_FIELD_PREFIX)
        )
    for name, value in values:
        header_value(str(name), str(value))
    return message
