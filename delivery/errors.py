"""Why a message was not sent, and what to do about it: give up, retry later (with
backoff), reconnect first, or treat the address as a hard bounce; and whether an ESP
call's outcome is unknown (it may have sent, so it is never retried blindly). Also the
error every campaign state change raises. A leaf: it imports nothing of Crier's.
"""

import random
import smtplib
from dataclasses import dataclass
from datetime import timedelta

import requests
from anymail.exceptions import AnymailAPIError, AnymailRecipientsRefused
from urllib3.exceptions import NewConnectionError


class CampaignStateError(Exception):
    """The campaign is not in a state that allows this; the message says why."""


@dataclass(frozen=True)
class Failure:
    permanent: bool
    reconnect: bool
    hard_bounce: bool
    reason: str


def classify(error: Exception) -> Failure:
    """Permanent (5xx, the ESP refused the recipient) or transient (4xx, timeouts, 429, 5xx
    from an API); whether the connection is gone; whether the address itself bounced."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        code, reply = next(iter(error.recipients.values()))
        text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
        return Failure(code >= 500, False, code >= 500, f"{code} {text}")
    if isinstance(error, smtplib.SMTPResponseException):
        text = (
            error.smtp_error.decode(errors="replace")
            if isinstance(error.smtp_error, bytes)
            else str(error.smtp_error)
        )
        return Failure(
            error.smtp_code >= 500, error.smtp_code == 421, False, f"{error.smtp_code} {text}"
        )
    if isinstance(error, AnymailRecipientsRefused):
        return Failure(True, False, True, str(error).splitlines()[0])
    if isinstance(error, AnymailAPIError):
        status = _status_of(error)
        transient = status in (0, 408, 429) or status >= 500
        return Failure(not transient, False, False, str(error).splitlines()[0])
    if isinstance(error, smtplib.SMTPServerDisconnected | OSError):
        return Failure(False, True, False, f"{type(error).__name__}: {error}")
    return Failure(True, False, False, f"{type(error).__name__}: {error}")


def _status_of(error: AnymailAPIError) -> int:
    """The ESP's HTTP status; for Amazon SES it sits in botocore's parsed error."""
    if error.status_code:
        return error.status_code
    response = getattr(error.__cause__, "response", None)
    if isinstance(response, dict):
        return response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    return 0


def outcome_unknown(error: Exception) -> bool:
    """The request may have reached the ESP but no answer came back (a read timeout, a
    connection dropped mid-response). A refused connection or a connect timeout means
    nothing was sent, and an HTTP status is an answer: those are safe to retry."""
    if not isinstance(error, requests.RequestException) or getattr(error, "status_code", None):
        return False
    cause = error.__cause__ or error
    if isinstance(cause, requests.ConnectTimeout):
        return False
    reason = getattr(cause.args[0], "reason", None) if cause.args else None
    return not isinstance(reason, NewConnectionError)


def backoff(attempts: int) -> timedelta:
    """Exponential with full jitter: 30 s, 1 min, 2 min… at most an hour."""
    ceiling = min(3600, 30 * 2 ** max(0, attempts - 1))
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))  # noqa: S311
