"""Signed links for people without an account, one salt per purpose (never reused).

A token names the contact and its newsletter; what it allows depends only on its
salt. Confirmation links expire after a week; preference and unsubscribe links
never do, so an unsubscribe link in a years-old email still works. Links to the
person's own data (export, stop all mail, erasure: everything across newsletters)
are mailed on request and expire after an hour, so that a forwarded newsletter
gives its reader no way to take or destroy the subscriber's data.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.core import signing

CONFIRM_SALT = "crier.subscribers.confirm"
PREFERENCES_SALT = "crier.subscribers.preferences"
UNSUBSCRIBE_SALT = "crier.subscribers.unsubscribe"
DATA_SALT = "crier.subscribers.data"
CONFIRM_MAX_AGE = timedelta(days=7)
DATA_MAX_AGE = timedelta(hours=1)


class InvalidToken(Exception):
    """Tampered, truncated or signed for another purpose."""


class ExpiredToken(Exception):
    def __init__(self, claim: "Claim") -> None:
        super().__init__("expired")
        self.claim = claim


@dataclass(frozen=True)
class Claim:
    """Whose link it is. ``name`` travels only in a confirmation link: the name the
    person typed in the form, applied to their contact once the address confirms."""

    subscriber_id: int
    newsletter_id: int
    name: str = ""


def _make(claim: Claim, salt: str) -> str:
    values = [claim.subscriber_id, claim.newsletter_id]
    if claim.name:
        values.append(claim.name)
    return signing.dumps(values, salt=salt, compress=True)


def _claim(values) -> Claim:
    subscriber_id, newsletter_id, *rest = values
    name = rest[0] if rest and isinstance(rest[0], str) else ""
    return Claim(int(subscriber_id), int(newsletter_id), name)


def _read(token: str, salt: str, max_age: timedelta | None = None) -> Claim:
    try:
        return _claim(signing.loads(token, salt=salt, max_age=max_age))
    except signing.SignatureExpired:
        raise ExpiredToken(_claim(signing.loads(token, salt=salt))) from None
    except (signing.BadSignature, ValueError, TypeError):
        raise InvalidToken from None


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


def data_token(claim: Claim) -> str:
    return _make(Claim(claim.subscriber_id, claim.newsletter_id), DATA_SALT)


def read_data_token(token: str) -> Claim:
    return _read(token, DATA_SALT, DATA_MAX_AGE)
