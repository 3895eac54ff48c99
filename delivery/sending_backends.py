"""Per-newsletter sending backends as their owners manage them: saving the settings
with their secrets, the tracking webhook, where mail goes in words (``Route``), test
sends and connection checks.

How mail leaves (the kinds of service, the ``Transport`` and its connection) is in
``transports``, the leaf that everything sending imports. anymail is the plug point: a
service is an anymail backend path plus the keyword arguments anymail reads from
``get_connection(path, **kwargs)`` (``api_key``, ``api_url``…), so no ESP-specific
sending code lives here.
"""

import json
import logging
import secrets as secrets_module
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from newsletter import encryption, network
from newsletter.links import absolute_url
from newsletter.mail import SystemMessage
from newsletter.models import Newsletter

from . import system_mail, test_mail
from .models import BackendKind, SendingBackend
from .transports import (
    KINDS,
    OUTBOX_PATH,
    SMTP_PATH,
    TRACKING_WEBHOOK_KINDS,
    active_backend,
    read_secrets,
    smtp_port,
    transport_of,
)

logger = logging.getLogger(__name__)

SECRET_LABELS = {
    "password": gettext_lazy("SMTP password"),
    "api_key": gettext_lazy("API key"),
    "server_token": gettext_lazy("server token"),
    "secret_key": gettext_lazy("secret key"),
    "aws_access_key_id": gettext_lazy("access key ID"),
    "aws_secret_access_key": gettext_lazy("secret access key"),
    "webhook_signing_key": gettext_lazy("webhook signing key"),
}
# A missing secret is asked for in a sentence of its own: splicing labels into one
# sentence ("Enter the %s and the %s") cannot be translated, since the article depends
# on the noun in most languages ("le mot de passe", "la clé").
SECRET_REQUESTS = {
    "password": gettext_lazy("Enter the SMTP password."),
    "api_key": gettext_lazy("Enter the API key."),
    "server_token": gettext_lazy("Enter the server token."),
    "secret_key": gettext_lazy("Enter the secret key."),
    "aws_access_key_id": gettext_lazy("Enter the access key ID."),
    "aws_secret_access_key": gettext_lazy("Enter the secret access key."),
}


# Where a stored secret goes: change one and the secret must be entered again, or an
# owner could point it elsewhere (their own server), keep it, and press "test".
DESTINATION_FIELDS = ("kind", "host", "port", "security", "username", "api_url", "region")
FIELD_LABELS = {
    "kind": gettext_lazy("service"),
    "host": gettext_lazy("SMTP host"),
    "port": gettext_lazy("SMTP port"),
    "security": gettext_lazy("SMTP encryption"),
    "username": gettext_lazy("SMTP user name"),
    "api_url": gettext_lazy("API base URL"),
    "region": gettext_lazy("region"),
}


class BackendConfigError(Exception):
    """The settings cannot make a working backend; the message says what to fix, and
    ``field`` which form field it is about (None: the form as a whole)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


# Secrets


def _store_secrets(backend: SendingBackend, values: dict[str, str]) -> None:
    backend.secrets = encryption.encrypt(json.dumps(values)) if values else ""


def rotate_secrets() -> int:
    """Re-encrypt every stored secret (and webhook secret) under the first of
    CRIER_ENCRYPTION_KEYS; returns how many backends had secrets of their own."""
    rotated = 0
    with transaction.atomic():
        for backend in SendingBackend.objects.select_for_update():
            backend.webhook_secret = encryption.rotate(backend.webhook_secret)
            if backend.secrets:
                backend.secrets = encryption.rotate(backend.secrets)
                rotated += 1
            backend.save(update_fields=["secrets", "webhook_secret"])
    return rotated


# The backend's own tracking webhook

WEBHOOK_USER = "crier"


@dataclass(frozen=True)
class Webhook:
    """What an owner pastes at the ESP: the URL, with the basic-auth credentials in it."""

    url: str
    username: str
    password: str

    @property
    def url_with_credentials(self) -> str:
        scheme, rest = self.url.split("://", 1)
        return f"{scheme}://{self.username}:{self.password}@{rest}"


def _new_webhook_secret(backend: SendingBackend) -> None:
    backend.webhook_secret = encryption.encrypt(secrets_module.token_urlsafe(24))


def webhook_of(backend: SendingBackend) -> Webhook | None:
    """The backend's tracking webhook, or None for a service without one (SMTP, outbox)."""
    if backend.kind not in TRACKING_WEBHOOK_KINDS:
        return None
    url = absolute_url(
        "webhooks:backend_tracking_webhook", esp=backend.kind, key=backend.webhook_key
    )
    return Webhook(url, WEBHOOK_USER, encryption.decrypt(backend.webhook_secret))


@transaction.atomic
def webhook_secret_renew(*, backend: SendingBackend) -> SendingBackend:
    """A new basic-auth password (the old one stops working at once)."""
    backend = SendingBackend.objects.select_for_update().get(pk=backend.pk)
    _new_webhook_secret(backend)
    backend.save(update_fields=["webhook_secret", "updated_at"])
    logger.info("sending backend webhook secret renewed", extra={"backend": backend.pk})
    return backend


def webhook_view_options(backend: SendingBackend) -> dict:
    """anymail's tracking-view keyword arguments for this backend's own webhook: every
    setting given here, so none falls back to the instance's (``ANYMAIL_*``)."""
    webhook = webhook_of(backend)
    options: dict = {"webhook_secret": [f"{webhook.username}:{webhook.password}"]}
    stored = read_secrets(backend)
    if backend.kind == BackendKind.MAILGUN:
        options["api_key"] = None
        options["webhook_signing_key"] = stored.get("webhook_signing_key")
    elif backend.kind == BackendKind.SENDGRID:
        options["tracking_webhook_verification_key"] = None
    elif backend.kind == BackendKind.RESEND:
        options["signing_secret"] = None
    elif backend.kind == BackendKind.SPARKPOST:
        options["track_initial_open_as_opened"] = False
    elif backend.kind == BackendKind.AMAZON_SES:
        # SNS subscriptions are confirmed with this backend's own AWS credentials.
        options["auto_confirm_sns_subscriptions"] = True
        options["session_params"] = {**stored, "region_name": backend.region}
        options["client_params"] = {}
    return options


# Configuration


@transaction.atomic
def sending_backend_save(
    *, newsletter: Newsletter, values: dict, new_secrets: dict[str, str]
) -> SendingBackend:
    """Create or update the newsletter's backend. A blank secret keeps the stored one,
    but only while everything that says where it goes (``DESTINATION_FIELDS``) stays
    the same: otherwise the stored secrets are dropped and must be entered again."""
    backend = SendingBackend.objects.select_for_update().filter(
        newsletter=newsletter
    ).first() or SendingBackend(newsletter=newsletter)
    moved = [
        name
        for name in DESTINATION_FIELDS
        if backend.pk and name in values and _differs(getattr(backend, name), values[name])
    ]
    kept = _readable_secrets(backend) if backend.pk and not moved else {}
    if moved:  # the last test was of another destination
        backend.last_test_at, backend.last_test_ok, backend.last_test_detail = None, None, ""
    for name, value in values.items():
        setattr(backend, name, value)
    kind = KINDS[backend.kind]
    secrets = {name: value for name, value in kept.items() if value}
    secrets.update({name: value for name, value in new_secrets.items() if value})
    missing = " ".join(
        str(SECRET_REQUESTS[name])
        for name in kind.secrets
        if not secrets.get(name) and not (name == "password" and not backend.username)
    )
    if missing and moved:
        raise BackendConfigError(
            _(
                "%(requests)s A stored secret is dropped when its destination changes "
                "(here: %(changed)s)."
            )
            % {
                "requests": missing,
                "changed": ", ".join(str(FIELD_LABELS[name]) for name in moved),
            },
            field="secret",
        )
    if missing:
        raise BackendConfigError(missing, field="secret")
    if backend.kind == BackendKind.SMTP and not backend.host:
        raise BackendConfigError(_("Enter the SMTP host."), field="host")
    if backend.kind == BackendKind.AMAZON_SES and not backend.region:
        raise BackendConfigError(_("Enter the Amazon SES region."), field="region")
    _check_destination(backend)
    kept_names = [*kind.secrets, *([kind.webhook_key] if kind.webhook_key else [])]
    _store_secrets(backend, {name: secrets[name] for name in kept_names if secrets.get(name)})
    if not backend.webhook_key:
        backend.webhook_key = secrets_module.token_urlsafe(16)
        _new_webhook_secret(backend)
    backend.save()
    logger.info(
        "sending backend saved",
        extra={
            "newsletter": newsletter.pk,
            "kind": backend.kind,
            "active": backend.active,
            "moved": moved,
        },
    )
    return backend


def _differs(stored, wanted) -> bool:
    """Blank and unset are the same; anything else counts, even a change of case."""
    return (stored or "") != (wanted or "")


def _readable_secrets(backend: SendingBackend) -> dict[str, str]:
    try:
        return read_secrets(backend)
    except encryption.DecryptionError:  # the page asks for them again
        return {}


def _check_destination(backend: SendingBackend) -> None:
    """Refuse an SMTP host or API URL that resolves to a non-public address, unless the
    instance admin allows them. Checked again at every SMTP connection; a name that
    does not resolve yet is accepted (its DNS may be on the way)."""
    if settings.SENDING_ALLOW_PRIVATE_HOSTS:
        return
    if backend.kind == BackendKind.SMTP:
        field_name, host, port = "host", backend.host, backend.port or 587
    elif backend.api_url:
        parts = urlsplit(backend.api_url)
        field_name, host, port = "api_url", parts.hostname or "", parts.port or 443
    else:
        return
    try:
        network.pick_address(host, port, allow_private=False)
    except network.Refused as error:
        raise BackendConfigError(
            _("%(reason)s: Crier only connects to public addresses.") % {"reason": error},
            field=field_name,
        ) from None
    except network.TransportError:
        return


@dataclass(frozen=True)
class Route:
    """Where a newsletter's mail goes, in words for its members: whether it is the
    newsletter's own backend, and whether it stays in the built-in outbox."""

    name: str
    own: bool
    outbox: bool


def route_of(newsletter_id: int) -> Route:
    backend = active_backend(newsletter_id)
    return backend_route(backend) if backend else default_route()


def default_route() -> Route:
    """The instance's EMAIL_BACKEND, named: the outbox, the SMTP host, or the ESP."""
    path = settings.EMAIL_BACKEND
    if path == OUTBOX_PATH:
        return Route(_("the built-in outbox (nothing leaves the server)"), False, True)
    if path in (SMTP_PATH, "django.core.mail.backends.smtp.EmailBackend"):
        name = _("the SMTP server %(host)s:%(port)s") % {
            "host": settings.EMAIL_HOST,
            "port": settings.EMAIL_PORT,
        }
        return Route(name, False, False)
    try:
        esp = import_string(path).esp_name
    except (ImportError, AttributeError):
        return Route(path, False, False)
    return Route(f"{esp} (anymail)", False, False)


def backend_route(backend: SendingBackend) -> Route:
    if backend.kind == BackendKind.OUTBOX:
        return Route(_("the built-in outbox (nothing leaves the server)"), True, True)
    if backend.kind == BackendKind.SMTP:
        name = _("the SMTP server %(host)s:%(port)s") % {
            "host": backend.host,
            "port": smtp_port(backend),
        }
        return Route(name, True, False)
    return Route(str(backend.get_kind_display()), True, False)


# Test sends


def _test_pending(backend: SendingBackend) -> None:
    backend.last_test_at = timezone.now()
    backend.last_test_ok = None
    backend.last_test_detail = ""
    backend.save(update_fields=["last_test_at", "last_test_ok", "last_test_detail"])


def _test_result(backend_id: int, ok: bool, detail: str) -> None:
    SendingBackend.objects.filter(pk=backend_id).update(
        last_test_ok=ok, last_test_detail=detail[:2000], last_test_at=timezone.now()
    )


def _failure(error: Exception) -> str:
    return f"{type(error).__name__}: {str(error).strip()}"


@transaction.atomic
def test_send_request(*, backend: SendingBackend, to: str, user, requested_by: str) -> None:
    """Mark a test as pending and queue it, within the member's test-mail allowance
    (``test_mail.allow`` raises ``TestMailRefused``); the page shows the result."""
    from .tasks import send_backend_test

    test_mail.allow(user_id=user.pk, newsletter_id=backend.newsletter_id, addresses=[to])
    _test_pending(backend)
    send_backend_test.delay_on_commit(backend.pk, to, requested_by)


def test_send(*, backend_id: int, to: str, requested_by: str) -> bool:
    """Send one short message through this backend (active or not) and record the outcome:
    where it went, or the server's or the ESP's own words when it refuses."""
    backend = SendingBackend.objects.select_related("newsletter").get(pk=backend_id)
    newsletter = backend.newsletter
    route = backend_route(backend)
    context = {"requested_by": requested_by, "backend": route.name}
    if test_mail.refused_addresses(newsletter.pk, [to]):
        ok, detail = False, f"{to} asked to receive no test messages from this newsletter."
    else:
        try:
            system_mail.send(
                SystemMessage(
                    to=(to,),
                    subject=f"Crier test message for {newsletter.name}",
                    text=render_to_string("delivery/test_message.txt", context),
                    html=render_to_string("delivery/test_message.html", context),
                    newsletter=newsletter,
                    headers=test_mail.unsubscribe_headers(newsletter.pk, to),
                ),
                connection=transport_of(backend).connection(),
            )
        except Exception as error:  # any failure is the answer the owner asked for
            ok, detail = False, _failure(error)
        else:
            ok = True
            detail = _("A test message to %(to)s went to %(route)s.") % {
                "to": to,
                "route": route.name,
            }
    _test_result(backend_id, ok, detail)
    logger.info("backend test sent", extra={"backend": backend_id, "ok": ok})
    return ok


# Connection checks (SMTP: no message is sent)


@transaction.atomic
def connection_check_request(*, backend: SendingBackend) -> None:
    from .tasks import check_backend_connection

    if backend.kind != BackendKind.SMTP:
        raise BackendConfigError(_("Only an SMTP server can be checked without a message."))
    _test_pending(backend)
    check_backend_connection.delay_on_commit(backend.pk)


def connection_check(*, backend_id: int) -> bool:
    """Connect to the SMTP server (the checked address), EHLO, STARTTLS and log in as
    configured, then QUIT: proves the settings and the password, and sends nothing."""
    backend = SendingBackend.objects.get(pk=backend_id, kind=BackendKind.SMTP)
    connection = transport_of(backend).connection()
    try:
        connection.open()
        code, greeting = connection.connection.ehlo()
    except Exception as error:  # any failure is the answer the owner asked for
        ok, detail = False, _failure(error)
    else:
        server = greeting.decode(errors="replace").splitlines()[0] if greeting else ""
        done = [_("connected to %(address)s") % {"address": connection.address}]
        done.append(_("EHLO answered %(code)s %(server)s") % {"code": code, "server": server})
        if connection.use_tls:
            done.append(_("STARTTLS"))
        if connection.use_ssl:
            done.append(_("TLS"))
        if connection.username:
            done.append(_("logged in as %(user)s") % {"user": connection.username})
        ok = True
        detail = _("%(route)s: %(steps)s, QUIT. No message was sent.") % {
            "route": capfirst(backend_route(backend).name),
            "steps": ", ".join(done),
        }
    finally:
        connection.close()
    _test_result(backend_id, ok, detail)
    logger.info("backend connection checked", extra={"backend": backend_id, "ok": ok})
    return ok
