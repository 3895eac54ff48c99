"""Keys and signed links of participation, one salt per purpose (never reused).

- **answer tokens** ``<consultation>.<subscriber>.<mac>``: in each reader's copy of
  a consultation, one per consultation (not per option: the option is in the link's
  query, so a reader costs one keyed hash whatever the number of questions).
  Checking one costs a microsecond, like tracking's tokens: keyed BLAKE2b, not
  ``django.core.signing``.
- **respondent digests**: HMAC-SHA256 of (question, subscriber) under a key of their
  own. One answer per person per question is enforced on the digest, which tells
  nothing about the person to anyone who does not hold the server's key.
- **submission links**: a contributor asked for changes edits their submission
  through a signed link that expires.
- **goal webhook secrets**: derived from the goal's key and version, never stored;
  a new version revokes the old secret.
"""

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta
from functools import cache

from django.conf import settings
from django.core import signing

ANSWER_SALT = b"crier.participation.answer.v1"
RESPONDENT_SALT = b"crier.participation.respondent.v1"
GOAL_WEBHOOK_SALT = b"crier.participation.goal-webhook.v1"
SUBMISSION_SALT = "crier.participation.submission"
SUBMISSION_MAX_AGE = timedelta(days=30)
# What a link carries instead of a reader's token when there is no reader: previews,
# test sends, the public archive. It leads to the consultation's public page.
NOBODY = "web"


class InvalidToken(Exception):
    pass


class ExpiredToken(Exception):
    pass


@dataclass(frozen=True, slots=True)
class AnswerClaim:
    consultation_id: int
    subscriber_id: int


@cache
def _key(salt: bytes, secret: str) -> bytes:
    return hashlib.blake2b(secret.encode(), key=salt, digest_size=32).digest()


def _answer_mac(payload: str) -> str:
    digest = hashlib.blake2b(
        payload.encode(), key=_key(ANSWER_SALT, settings.SECRET_KEY), digest_size=12
    ).digest()
    return base64.urlsafe_b64encode(digest).decode()


def answer_token(consultation_id: int, subscriber_id: int) -> str:
    payload = f"{consultation_id}.{subscriber_id}"
    return f"{payload}.{_answer_mac(payload)}"


def answer_signer(consultation_id: int):
    """``token(subscriber_id)`` for one consultation, for a campaign's recipients: the
    key is looked up once, each reader costs one keyed hash."""
    key = _key(ANSWER_SALT, settings.SECRET_KEY)
    blake2b, encode = hashlib.blake2b, base64.urlsafe_b64encode

    def token(subscriber_id: int) -> str:
        payload = f"{consultation_id}.{subscriber_id}"
        mac = encode(blake2b(payload.encode(), key=key, digest_size=12).digest()).decode()
        return f"{payload}.{mac}"

    return token


def read_answer_token(token: str) -> AnswerClaim:
    parts = token.split(".")
    if len(parts) != 3 or not all(part.isdecimal() and len(part) < 19 for part in parts[:2]):
        raise InvalidToken
    consultation, subscriber, mac = parts
    expected = _answer_mac(f"{consultation}.{subscriber}")
    if not hmac.compare_digest(mac.encode(), expected.encode()):
        raise InvalidToken
    return AnswerClaim(int(consultation), int(subscriber))


def respondent(question_id: int, subscriber_id: int) -> str:
    """The keyed digest that stands for a person's answer to one question."""
    return hmac.new(
        _key(RESPONDENT_SALT, settings.SECRET_KEY),
        f"{question_id}.{subscriber_id}".encode(),
        hashlib.sha256,
    ).hexdigest()


def submission_token(submission_id: int, revision: int) -> str:
    """Valid for one revision: once the contributor resubmits, the link is spent."""
    return signing.dumps([submission_id, revision], salt=SUBMISSION_SALT, compress=True)


def read_submission_token(token: str) -> tuple[int, int]:
    try:
        submission_id, revision = signing.loads(
            token, salt=SUBMISSION_SALT, max_age=SUBMISSION_MAX_AGE
        )
    except signing.SignatureExpired:
        raise ExpiredToken from None
    except (signing.BadSignature, ValueError, TypeError):
        raise InvalidToken from None
    return int(submission_id), int(revision)


def goal_webhook_secret(webhook_key: str, version: int) -> str:
    digest = hmac.new(
        _key(GOAL_WEBHOOK_SALT, settings.SECRET_KEY),
        f"{webhook_key}.{version}".encode(),
        hashlib.sha256,
    ).digest()
    return "whsec_" + base64.urlsafe_b64encode(digest).decode().rstrip("=")
