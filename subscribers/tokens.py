"""Signed links for people without an account, one salt per purpose (never reused).

A token names the contact and its newsletter; what it allows depends only on its
salt. Confirmation links expire after a week; preference and unsubscribe links
never do, so an unsubscribe link in a years-old email still works. Links to the
person's own data (export, stop all mail, erasure: everything across newsletters)
are mailed on request and expire after an hour, so that a forwarded newsletter
gives its reader no way to take or destroy the subscriber's data.

A referral code is not a token: it lets nobody act as the person. It names them
to the subscribe form, so that a subscription that came through their link is
attributed to them in the consent ledger, and reveals nothing about them.
"""

import base64
import binascii
import hashlib
import re
import struct
from dataclasses import dataclass
from datetime import timedelta
from functools import cache

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from django.conf import settings
from django.core import signing

CONFIRM_SALT = "crier.subscribers.confirm"
PREFERENCES_SALT = "crier.subscribers.preferences"
UNSUBSCRIBE_SALT = "crier.subscribers.unsubscribe"
DATA_SALT = "crier.subscribers.data"
REFERRAL_SALT = b"crier.subscribers.referral"
CONFIRM_MAX_AGE = timedelta(days=7)
DATA_MAX_AGE = timedelta(hours=1)
# The last 4 bytes of a referral code's block: a code someone made up decrypts to
# anything but these (one chance in four billion).
REFERRAL_MARK = b"crir"
REFERRAL_CHARACTERS = re.compile(r"[A-Za-z0-9_-]+")


class InvalidToken(Exception):
    """Tampered, truncated or signed for another purpose."""


class ExpiredToken(Exception):
    def __init__(self, claim: "Claim") -> None:
        super().__init__("expired")
        self.claim = claim


@dataclass(frozen=True)
class Claim:
    """Whose link it is. ``name`` and ``tracking`` travel only in a confirmation link:
    the name and tracking choice the person gave in the form, applied to their
    contact once the address confirms."""

    subscriber_id: int
    newsletter_id: int
    name: str = ""
    tracking: str = ""


def _make(claim: Claim, salt: str) -> str:
    values = [claim.subscriber_id, claim.newsletter_id]
    if claim.name or claim.tracking:
        values.append(claim.name)
    if claim.tracking:
        values.append(claim.tracking)
    return signing.dumps(values, salt=salt, compress=True)


def _claim(values) -> Claim:
    subscriber_id, newsletter_id, *rest = values
    texts = [value if isinstance(value, str) else "" for value in rest[:2]]
    name, tracking = [*texts, "", ""][:2]
    return Claim(int(subscriber_id), int(newsletter_id), name, tracking)


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


@cache
def _referral_cipher(secret: str) -> Cipher:
    key = hashlib.blake2b(secret.encode(), key=REFERRAL_SALT, digest_size=16).digest()
    # One AES block per code: a keyed permutation of (subscriber, newsletter, mark),
    # which are never the same twice, so ECB's weakness (equal blocks look equal)
    # has nothing to show. The code is opaque: no id can be read from it.
    return Cipher(algorithms.AES(key), modes.ECB())  # noqa: S305


def referral_code(claim: Claim) -> str:
    """The person's code for this newsletter: 22 URL-safe characters, the same every time."""
    return referral_coder(claim.newsletter_id)(claim.subscriber_id)


def referral_coder(newsletter_id: int):
    """``code(subscriber_id)`` for one newsletter, for many people in a row (a campaign's
    recipients): one ECB context encrypts each person's block apart, so the key
    schedule is set up once, not per person."""
    encryptor = _referral_cipher(settings.SECRET_KEY).encryptor()
    pack = struct.Struct(">QI4s").pack

    def code(subscriber_id: int) -> str:
        sealed = encryptor.update(pack(subscriber_id, newsletter_id, REFERRAL_MARK))
        return base64.urlsafe_b64encode(sealed).decode()[:22]

    return code


def read_referral_code(code: str) -> Claim:
    """The claim a referral code makes; InvalidToken if it is not one of ours."""
    if len(code) != 22 or not REFERRAL_CHARACTERS.fullmatch(code):
        raise InvalidToken
    try:
        sealed = base64.urlsafe_b64decode(code + "==")
    except (binascii.Error, ValueError):
        raise InvalidToken from None
    if base64.urlsafe_b64encode(sealed).decode()[:22] != code:
        raise InvalidToken  # the last character's unused bits changed: not a code we made
    decryptor = _referral_cipher(settings.SECRET_KEY).decryptor()
    block = decryptor.update(sealed) + decryptor.finalize()
    subscriber_id, newsletter_id, mark = struct.unpack(">QI4s", block)
    if mark != REFERRAL_MARK:
        raise InvalidToken
    return Claim(subscriber_id, newsletter_id)
