"""Signed links for people without an account, one salt per purpose (never reused).

A token names the subscriber and the newsletter; what it allows depends only on
its salt. Confirmation links expire; preference and unsubscribe links never do,
so an unsubscribe link in a years-old email still works.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.core import signing

CONFIRM_SALT = "crier.subscribers.confirm"
PREFERENCES_SALT = "crier.subscribers.preferences"
UNSUBSCRIBE_SALT = "crier.subscribers.unsubscribe"
CONFIRM_MAX_AGE = timedelta(days=7)


class InvalidToken(Exception):
    """Tampered, truncated or signed for another purpose."""


class ExpiredToken(Exception):
    def __init__(self, claim: "Claim") -> None:
        super().__init__("expired")
        self.claim = claim


@dataclass(frozen=True)
class Claim:
    subscriber_id: int
    newsletter_id: int


def _make(claim: Claim, salt: str) -> str:
    return signing.dumps([claim.subscriber_id, claim.newsletter_id], salt=salt, compress=True)


def _read(token: str, salt: str, max_age: timedelta | None = None) -> Claim:
    try:
        subscriber_id, newsletter_id = signing.loads(token, salt=salt, max_age=max_age)
    except signing.SignatureExpired:
        subscriber_id, newsletter_id = signing.loads(token, salt=salt)
        raise ExpiredToken(Claim(int(subscriber_id), int(newsletter_id))) from None
    except (signing.BadSignature, ValueError, TypeError):
        raise InvalidToken from None
    return Claim(int(subscriber_id), int(newsletter_id))


def confirm_token(claim: Claim) -> str:
    return _make(claim, CONFIRM_SALT)


def read_confirm_token(token: str) -> Claim:
    return _read(token, CONFIRM_SALT, CONFIRM_MAX_AGE)


def preferences_token(claim: Claim) -> str:
    return _make(claim, PREFERENCES_SALT)


def read_preferences_token(token: str) -> Claim:
    return _read(token, PREFERENCES_SALT)


def unsubscribe_token(claim: Claim) -> str:
    return _make(claim, UNSUBSCRIBE_SALT)


def read_unsubscribe_token(token: str) -> Claim:
    return _read(token, UNSUBSCRIBE_SALT)
