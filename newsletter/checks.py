"""System checks that warn an admin about a deployment that would misbehave quietly."""

import os

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

OUTBOX_BACKEND = "delivery.backends.outbox.EmailBackend"


@register(Tags.compatibility, deploy=True)
def mail_leaves_the_server(app_configs, **kwargs):
    if settings.EMAIL_BACKEND == OUTBOX_BACKEND:
        return [
            Warning(
                "EMAIL_BACKEND is the built-in outbox: no mail leaves this server.",
                hint="Set EMAIL_BACKEND to SMTP or an anymail ESP backend (docs/configuration.md).",
                id="crier.W001",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def webhook_secret_is_set(app_configs, **kwargs):
    if settings.EMAIL_BACKEND.startswith("anymail.") and not settings.ANYMAIL.get("WEBHOOK_SECRET"):
        return [
            Warning(
                "ANYMAIL_WEBHOOK_SECRET is not set: the tracking webhooks refuse every event "
                "(a forged one could suppress or unsubscribe anyone), so bounces and "
                "complaints reported by the ESP are not recorded.",
                hint="Set ANYMAIL_WEBHOOK_SECRET to user:password, as in the ESP's webhook URL "
                "(docs/feedback.md).",
                id="crier.W002",
            )
        ]
    return []


@register(Tags.compatibility, deploy=True)
def bounce_mailbox_has_verp(app_configs, **kwargs):
    if settings.BOUNCE_IMAP_HOST and not settings.BOUNCE_DOMAIN:
        return [
            Warning(
                "CRIER_BOUNCE_IMAP_HOST is set but CRIER_BOUNCE_DOMAIN is not: campaign mail "
                "carries no VERP bounce address, so no bounce in the mailbox can be matched.",
                hint="Set CRIER_BOUNCE_DOMAIN to the domain whose mail reaches that mailbox.",
                id="crier.W003",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def encryption_keys_are_set(app_configs, **kwargs):
    if not settings.ENCRYPTION_KEYS:
        return [
            Warning(
                "CRIER_ENCRYPTION_KEYS is not set: stored secrets (sending backends' API keys "
                "and passwords) are encrypted with a key derived from SECRET_KEY, and "
                "changing SECRET_KEY would make them unreadable.",
                hint="Set CRIER_ENCRYPTION_KEYS to a long random string (docs/configuration.md).",
                id="crier.W004",
            )
        ]
    return []


@register(Tags.compatibility)
def unsubscribe_mailto_is_an_address(app_configs, **kwargs):
    local_part, at, domain = settings.UNSUBSCRIBE_MAILTO.strip().rpartition("@")
    if settings.UNSUBSCRIBE_MAILTO and not (at and local_part and domain and "+" not in local_part):
        return [
            Error(
                "CRIER_UNSUBSCRIBE_MAILTO is not a plain address: messages carry no mailto: "
                "unsubscribe target.",
                hint="Use an address like unsubscribe@lists.example.org (no '+'): Crier adds "
                "+<signed token> for each recipient (docs/feedback.md).",
                id="crier.E001",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def client_ip_header_is_gone(app_configs, **kwargs):
    if os.environ.get("CLIENT_IP_HEADER"):
        return [
            Warning(
                "CLIENT_IP_HEADER is no longer read: it trusted the first X-Forwarded-For "
                "address, which the client writes. Visitors' addresses are now REMOTE_ADDR "
                "unless CRIER_TRUSTED_PROXIES says how many proxies append to that header.",
                hint="Remove CLIENT_IP_HEADER; behind one reverse proxy set "
                "CRIER_TRUSTED_PROXIES=1 (docs/configuration.md).",
                id="crier.W021",
            )
        ]
    return []
