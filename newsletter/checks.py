"""System checks that warn an admin about a deployment that would misbehave quietly."""

from django.conf import settings
from django.core.checks import Tags, Warning, register

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
                "ANYMAIL_WEBHOOK_SECRET is not set: anyone could post forged tracking events.",
                hint="Set ANYMAIL_WEBHOOK_SECRET to user:password, as in the ESP's webhook URL.",
                id="crier.W002",
            )
        ]
    return []
