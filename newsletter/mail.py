"""A system message, described by whichever app needs it and sent by ``delivery``.

Confirmations, data links, participation notices and the like are written by the app
that knows the person (``subscribers``, ``participation``), but only ``delivery``
knows how a newsletter's mail leaves: its sender, its sending backend, the header
checks. Those apps sit below ``delivery`` in the import layers (docs/architecture.md),
so they describe the message here and hand it over with :func:`send`; delivery's
receiver (``delivery.receivers``) builds and sends it through ``delivery.system_mail``,
synchronously, in the caller's process (a Celery task stays a Celery task).
"""

from dataclasses import dataclass, field

from django.core.exceptions import ImproperlyConfigured
from django.dispatch import Signal

from .models import Newsletter

# Sent by ``send`` with ``message`` (a SystemMessage); exactly one receiver sends it
# and returns how many messages left (0 or 1), or raises when it could not.
system_mail_requested = Signal()


@dataclass(frozen=True)
class SystemMessage:
    """One message to ``to``, from ``newsletter`` (its sender, reply-to and sending
    backend) or, when None, from the instance itself (``DEFAULT_FROM_EMAIL`` through
    ``EMAIL_BACKEND``). ``html`` is optional; ``headers`` adds to the ones every
    system message carries (``Auto-Submitted``)."""

    to: tuple[str, ...]
    subject: str
    text: str
    html: str = ""
    newsletter: Newsletter | None = None
    headers: dict[str, str] = field(default_factory=dict)


def send(message: SystemMessage) -> int:
    """Send ``message`` now, through the one sender delivery connects; returns how many
    messages left. A missing sender is a configuration error, never a silent drop."""
    responses = system_mail_requested.send(sender=SystemMessage, message=message)
    if len(responses) != 1:
        raise ImproperlyConfigured(
            f"{len(responses)} receivers of system_mail_requested; exactly one "
            "(delivery.receivers) must send system mail."
        )
    return responses[0][1]
