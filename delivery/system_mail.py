"""The one builder and sender of system mail: confirmations and data links
(subscribers), participation notices, invitations and password links (newsletter),
owner notices, test messages and campaign test copies. Every one of them is built
here the same way (``build``): from the newsletter's sender with its reply-to, or the
instance's ``DEFAULT_FROM_EMAIL``; ``Auto-Submitted: auto-generated`` (RFC 3834) so
autoresponders stay quiet; through the newsletter's sending backend, or the instance's
``EMAIL_BACKEND`` for the instance's own mail; and checked for header injection
(``headercheck``) before it leaves.

Apps below delivery hand their messages over with ``newsletter.mail.send``; delivery's
own callers use ``send`` here directly.
"""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection

from newsletter.mail import SystemMessage

from .headercheck import check_headers
from .transports import connection_for

AUTO_SUBMITTED = {"Auto-Submitted": "auto-generated"}


def build(message: SystemMessage, *, connection=None) -> EmailMultiAlternatives:
    """The message ready to send, through ``connection`` when given (a backend under
    test, or one connection for several messages), else the sender's own.

    Raises ``newsletter.headers.HeaderInjection`` when a header value holds a line break.
    """
    newsletter = message.newsletter
    if connection is None:
        connection = connection_for(newsletter.pk) if newsletter else get_connection()
    email = EmailMultiAlternatives(
        subject=message.subject,
        body=message.text,
        from_email=newsletter.sender if newsletter else settings.DEFAULT_FROM_EMAIL,
        to=list(message.to),
        reply_to=[newsletter.reply_to] if newsletter and newsletter.reply_to else None,
        headers={**AUTO_SUBMITTED, **message.headers},
        connection=connection,
    )
    if message.html:
        email.attach_alternative(message.html, "text/html")
    return check_headers(email)


def send(message: SystemMessage, *, connection=None) -> int:
    """Build and send ``message``; returns how many messages left (0 or 1). A failure
    to send raises, so the task that asked may retry."""
    return build(message, connection=connection).send()
