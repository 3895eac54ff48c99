"""How a newsletter's mail leaves: the backend kinds (each service's Django or anymail
backend, its secrets and its batch syntax), the ``Transport`` built from a newsletter's
active sending backend or the instance default, and its connection (``connection_for``).

A leaf: it imports Django, newsletter and delivery's own models, and no other delivery
module (import-linter checks it), so everything that sends (the engine, system mail,
digests) can use it without importing the settings pages' machinery
(``sending_backends``: forms, secrets storage, webhooks, tests and checks).
"""

import json
from dataclasses import dataclass, field

from django.conf import settings
from django.core.mail import get_connection

from newsletter import encryption

from .models import BackendKind, SendingBackend, SmtpSecurity

# Django's SMTP backend, connecting only to the address it checked (newsletter.network).
SMTP_PATH = "delivery.backends.smtp.EmailBackend"


@dataclass(frozen=True)
class Kind:
    """One service: its Django backend, the secrets it needs (anymail's keyword names),
    and, when its API sends one personalised message per recipient of a single call
    with substitutions in inline content, the merge-field syntax and per-call maximum.
    ``webhook_key`` names the key with which the service signs its tracking webhooks,
    when anymail checks that signature (entered by the owner, optional)."""

    path: str
    secrets: tuple[str, ...] = ()
    merge_field_format: str | None = None
    max_recipients_per_call: int = 1
    webhook_key: str | None = None


KINDS: dict[str, Kind] = {
    BackendKind.OUTBOX: Kind("delivery.backends.outbox.EmailBackend"),
    BackendKind.SMTP: Kind(SMTP_PATH, ("password",)),
    # SES v2 SendEmail takes one raw message; its bulk call needs stored templates.
    BackendKind.AMAZON_SES: Kind(
        "anymail.backends.amazon_ses.EmailBackend", ("aws_access_key_id", "aws_secret_access_key")
    ),
    # Mailgun "recipient-variables": %recipient.KEY% in subject, text and HTML.
    BackendKind.MAILGUN: Kind(
        "anymail.backends.mailgun.EmailBackend",
        ("api_key",),
        "%recipient.{}%",
        1000,
        webhook_key="webhook_signing_key",
    ),
    # SendGrid legacy substitutions: a literal string replaced in subject and body.
    BackendKind.SENDGRID: Kind(
        "anymail.backends.sendgrid.EmailBackend", ("api_key",), "[%crier:{}%]", 1000
    ),
    # These substitute only into templates stored at the ESP (or, for Resend, not at
    # all): each recipient is one API call.
    BackendKind.POSTMARK: Kind("anymail.backends.postmark.EmailBackend", ("server_token",)),
    BackendKind.BREVO: Kind("anymail.backends.brevo.EmailBackend", ("api_key",)),
    BackendKind.RESEND: Kind("anymail.backends.resend.EmailBackend", ("api_key",)),
    BackendKind.SPARKPOST: Kind("anymail.backends.sparkpost.EmailBackend", ("api_key",)),
    BackendKind.MAILJET: Kind("anymail.backends.mailjet.EmailBackend", ("api_key", "secret_key")),
}
KIND_BY_PATH = {kind.path: kind for kind in KINDS.values()}
OUTBOX_PATH = KINDS[BackendKind.OUTBOX].path
# The services whose delivery events anymail receives (all but SMTP and the outbox).
TRACKING_WEBHOOK_KINDS = [
    name for name in KINDS if name not in (BackendKind.OUTBOX, BackendKind.SMTP)
]


@dataclass(frozen=True)
class Quota:
    """At most ``limit`` messages in any ``seconds`` (``throttle`` counts them across
    workers)."""

    name: str
    limit: int
    seconds: int


@dataclass(frozen=True)
class Transport:
    """How a newsletter's mail leaves now: a backend, its shared limits, and how many
    recipients one ESP call may carry (1: a message per call)."""

    key: str
    path: str
    options: dict = field(repr=False)
    per_second: float = 0
    per_domain_per_second: float = 0
    quotas: tuple[Quota, ...] = ()
    merge_field_format: str | None = None
    recipients_per_call: int = 1

    def connection(self):
        return get_connection(self.path, fail_silently=False, **self.options)

    @property
    def batches_calls(self) -> bool:
        return self.recipients_per_call > 1 and self.merge_field_format is not None


def read_secrets(backend: SendingBackend) -> dict[str, str]:
    """The decrypted secrets; raises ``encryption.DecryptionError`` when they cannot be read."""
    if not backend.secrets:
        return {}
    return json.loads(encryption.decrypt(backend.secrets))


def active_backend(newsletter_id: int) -> SendingBackend | None:
    return SendingBackend.objects.filter(newsletter_id=newsletter_id, active=True).first()


def _options(backend: SendingBackend) -> dict:
    """anymail's (or Django's SMTP backend's) keyword arguments for this backend."""
    secrets = read_secrets(backend)
    if backend.kind == BackendKind.SMTP:
        return {
            "host": backend.host,
            "port": smtp_port(backend),
            "username": backend.username,
            "password": secrets.get("password", ""),
            "use_tls": backend.security == SmtpSecurity.STARTTLS,
            "use_ssl": backend.security == SmtpSecurity.TLS,
            "timeout": settings.EMAIL_TIMEOUT,
            "allow_private": settings.SENDING_ALLOW_PRIVATE_HOSTS,
        }
    if backend.kind == BackendKind.AMAZON_SES:
        return {
            "session_params": {**secrets, "region_name": backend.region},
            "client_params": {"endpoint_url": backend.api_url} if backend.api_url else {},
        }
    options = {name: secrets[name] for name in KINDS[backend.kind].secrets if name in secrets}
    if backend.api_url:
        options["api_url"] = backend.api_url
    if backend.kind == BackendKind.MAILGUN and backend.sender_domain:
        options["sender_domain"] = backend.sender_domain
    if backend.kind == BackendKind.SENDGRID:
        options["merge_field_format"] = KINDS[BackendKind.SENDGRID].merge_field_format
    if backend.kind == BackendKind.OUTBOX:
        options["newsletter_id"] = backend.newsletter_id
    return options


def smtp_port(backend: SendingBackend) -> int:
    return backend.port or (465 if backend.security == SmtpSecurity.TLS else 587)


def transport_for(newsletter_id: int) -> Transport:
    """The newsletter's active backend with its own limits, else the instance default
    (EMAIL_BACKEND and ANYMAIL_* with the CRIER_SEND_RATE_* limits)."""
    backend = active_backend(newsletter_id)
    if backend is None:
        kind = KIND_BY_PATH.get(settings.EMAIL_BACKEND, Kind(settings.EMAIL_BACKEND))
        options = {}
        if kind.path == KINDS[BackendKind.SENDGRID].path:
            options["merge_field_format"] = kind.merge_field_format
        if kind.path == OUTBOX_PATH:  # its copies are erased with the newsletter's contacts
            options["newsletter_id"] = newsletter_id
        return Transport(
            key="all",
            path=kind.path,
            options=options,
            per_second=settings.SEND_RATE_PER_SECOND,
            per_domain_per_second=settings.SEND_RATE_PER_DOMAIN_PER_SECOND,
            merge_field_format=kind.merge_field_format,
            recipients_per_call=kind.max_recipients_per_call,
        )
    return transport_of(backend)


def connection_for(newsletter_id: int):
    """A mail connection for anything a newsletter sends (confirmations, test sends):
    its own backend when one is active, else the instance default."""
    return transport_for(newsletter_id).connection()


def transport_of(backend: SendingBackend) -> Transport:
    kind = KINDS[backend.kind]
    key = f"backend:{backend.pk}"
    quotas = tuple(
        Quota(f"{key}:{name}", limit, seconds)
        for name, limit, seconds in (
            ("hour", backend.rate_per_hour, 3600),
            ("day", backend.rate_per_day, 86400),
        )
        if limit
    )
    per_call = kind.max_recipients_per_call
    if backend.batch_size:
        per_call = min(per_call, backend.batch_size)
    for quota in quotas:  # one call must fit in every quota
        per_call = min(per_call, quota.limit)
    return Transport(
        key=key,
        path=kind.path,
        options=_options(backend),
        per_second=backend.rate_per_second,
        per_domain_per_second=backend.domain_rate_per_minute / 60,
        quotas=quotas,
        merge_field_format=kind.merge_field_format,
        recipients_per_call=max(1, per_call),
    )
