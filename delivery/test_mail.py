"""Test messages: a campaign's test send and a sending backend's test.

They go to whatever address a member types, so they are limited twice: a member
sends at most ``CRIER_TEST_MAILS_PER_HOUR`` of them per newsletter per hour
(dashboard and API count together), and every test message carries a
``List-Unsubscribe`` (RFC 2369, one-click RFC 8058) with which its recipient stops
all test mail from that newsletter. The link is signed and names the newsletter and
a digest of the address; the refusal keeps only that digest.
"""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from newsletter import ratelimit
from newsletter.links import absolute_url
from newsletter.models import Newsletter
from subscribers.models import address_digest

from .models import TestMailRefusal

logger = logging.getLogger(__name__)

SALT = "delivery.test-mail.stop"
WINDOW_SECONDS = 3600


class TestMailRefused(Exception):
    """A test send that may not happen; the message says why. ``status`` is the HTTP
    answer an API gives, ``field`` the input it is about."""

    status = 422
    field = "to"


class TestMailLimited(TestMailRefused):
    status = 429


def allow(*, user_id: int, newsletter_id: int, addresses: list[str]) -> None:
    """Take ``addresses`` from the member's hourly allowance, or raise ``TestMailRefused``
    (nothing is taken then): an address that asked for no test mail, or too many."""
    refused = refused_addresses(newsletter_id, addresses)
    if refused:
        raise TestMailRefused(
            _("%(addresses)s asked to receive no test messages from this newsletter.")
            % {"addresses": ", ".join(sorted(refused))}
        )
    if not ratelimit.take(
        "test-mail",
        f"{user_id}:{newsletter_id}",
        amount=len(addresses),
        limit=settings.TEST_MAILS_PER_HOUR,
        window_seconds=WINDOW_SECONDS,
    ):
        raise TestMailLimited(
            _("You can send %(limit)s test messages per hour for this newsletter; try again later.")
            % {"limit": settings.TEST_MAILS_PER_HOUR}
        )


def refused_addresses(newsletter_id: int, addresses: list[str]) -> set[str]:
    by_digest = {address_digest(address): address for address in addresses}
    found = TestMailRefusal.objects.filter(
        newsletter_id=newsletter_id, address_digest__in=by_digest
    ).values_list("address_digest", flat=True)
    return {by_digest[digest] for digest in found}


def stop_token(newsletter_id: int, address: str) -> str:
    return signing.dumps({"n": newsletter_id, "a": address_digest(address)}, salt=SALT)


@dataclass(frozen=True)
class Stop:
    newsletter: Newsletter
    address_digest: str


def read_stop_token(token: str) -> Stop | None:
    try:
        claim = signing.loads(token, salt=SALT)
        newsletter = Newsletter.objects.get(pk=int(claim["n"]))
        digest = str(claim["a"])
    except (signing.BadSignature, KeyError, TypeError, ValueError, Newsletter.DoesNotExist):
        return None
    return Stop(newsletter, digest)


def refusal_record(*, stop: Stop) -> None:
    """No more test mail from this newsletter to this address (saying it twice is fine)."""
    try:
        with transaction.atomic():
            TestMailRefusal.objects.create(
                newsletter=stop.newsletter, address_digest=stop.address_digest
            )
    except IntegrityError:
        return
    logger.info("test mail refused by its recipient", extra={"newsletter": stop.newsletter.pk})


def unsubscribe_headers(newsletter_id: int, address: str) -> dict[str, str]:
    url = absolute_url("test_mail_stop", token=stop_token(newsletter_id, address))
    return {
        "List-Unsubscribe": f"<{url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
