"""Secrets at rest (ESP API keys, SMTP passwords): Fernet tokens under rotatable keys.

Keys come from ``CRIER_ENCRYPTION_KEYS`` (comma-separated; the first encrypts, every
one decrypts), or, when it is unset, from ``SECRET_KEY``. Each is stretched with
HKDF-SHA256 under a purpose of its own, so any long random string is a valid key
and the Fernet key is never the signing key itself. Fernet authenticates what it
encrypts: a changed byte is refused, never decrypted into garbage.
"""

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

PURPOSE = b"crier.encryption.secrets-at-rest"


class DecryptionError(Exception):
    """The stored secret cannot be read: tampered with, or encrypted under a key that is
    no longer in CRIER_ENCRYPTION_KEYS."""


def _fernet(material: str) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=PURPOSE).derive(
        material.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def _keys() -> MultiFernet:
    materials = settings.ENCRYPTION_KEYS or [settings.SECRET_KEY]
    return MultiFernet([_fernet(material) for material in materials])


def encrypt(plaintext: str) -> str:
    return _keys().encrypt(plaintext.encode()).decode("ascii")


def decrypt(token: str) -> str:
    try:
        return _keys().decrypt(token.encode("ascii")).decode()
    except (InvalidToken, UnicodeEncodeError) as error:
        raise DecryptionError(
            "A stored secret cannot be decrypted: it was changed, or the key it was "
            "encrypted with is no longer listed in CRIER_ENCRYPTION_KEYS."
        ) from error


def rotate(token: str) -> str:
    """The same secret encrypted under the current first key (after adding a new key)."""
    try:
        return _keys().rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeEncodeError) as error:
        raise DecryptionError("A stored secret cannot be decrypted, so not rotated.") from error
