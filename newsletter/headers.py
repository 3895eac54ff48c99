"""Text that ends up in an email header must stay on one line.

A header ends at a line break: a subject, a sender name or an address holding one
could end the header block early (dropping ``List-Unsubscribe``, under a valid DKIM
signature) or add headers of its own. SMTP only knows CRLF, but mail software is
written in languages whose idea of a line break is wider, so every character
Python's ``str.splitlines`` breaks on is refused — on input (``validate_single_line``,
for forms, models and the API) and again by the message builders
(``delivery.messages``), which raise ``HeaderInjection`` rather than send.
"""

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

# Exactly the characters str.splitlines() breaks on (tests/newsletter/test_headers.py
# checks this against every code point).
LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_LINE_BREAK = re.compile(f"[{re.escape(LINE_BREAKS)}]")


class HeaderInjection(ValueError):
    """A header value holds a line break: the message is refused, never sent."""


def has_line_break(value: str) -> bool:
    return _LINE_BREAK.search(value) is not None


def validate_single_line(value: str) -> None:
    """Django validator for fields whose text goes into a header."""
    if isinstance(value, str) and has_line_break(value):
        raise ValidationError(
            _("Line breaks are not allowed here: this text goes into an email header."),
            code="line_break",
        )


def header_value(name: str, value: str) -> str:
    """``value``, checked for the ``name`` header; raises ``HeaderInjection``."""
    if has_line_break(value):
        raise HeaderInjection(f"The {name} header would contain a line break; not sent.")
    return value
