"""A self-hosted proof-of-work check for the subscribe form, on the ALTCHA protocol (v1).

The browser must find a number whose SHA-256 with a signed salt matches the
challenge: a fraction of a second for one person, costly for a bot posting
thousands of addresses. No third party is involved. Each solution is accepted
once (the cache remembers it until the challenge expires).
"""

import base64
import binascii
import json
from datetime import timedelta

from altcha import create_challenge_v1, verify_solution_v1
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from django.utils.crypto import salted_hmac

CHALLENGE_LIFETIME = timedelta(minutes=20)


def _key() -> str:
    return salted_hmac("crier.subscribers.proof_of_work", "hmac-key").hexdigest()


def new_challenge() -> dict:
    challenge = create_challenge_v1(
        hmac_key=_key(),
        max_number=settings.PROOF_OF_WORK_MAX_NUMBER,
        expires=timezone.now() + CHALLENGE_LIFETIME,
    )
    return challenge.to_dict()


def is_solved(payload: str) -> bool:
    """True once for a valid, unexpired solution; replays and forgeries are False."""
    if not payload:
        return False
    try:
        solved, _ = verify_solution_v1(payload, _key())
        signature = json.loads(base64.b64decode(payload))["signature"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        return False
    if not solved:
        return False
    lifetime = int(CHALLENGE_LIFETIME.total_seconds())
    return cache.add(f"pow:{signature}", 1, timeout=lifetime)
