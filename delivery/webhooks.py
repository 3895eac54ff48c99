"""django-anymail's tracking webhooks at ``/webhooks/anymail/<esp>/tracking/``, failing closed.

anymail validates each post (basic auth with ``ANYMAIL_WEBHOOK_SECRET``, plus the
ESP's signature where it has one), normalises it and sends its ``tracking`` signal,
which ``receivers.record_esp_feedback`` handles. Around anymail's views this adds:

- no secret, no service: a view with neither basic auth nor a signature key answers
  403 rather than accepting anyone's events (anymail would only warn);
- a body that cannot be parsed answers 400 (anymail would answer 500, and the ESP
  would retry it for days). Errors while *recording* still answer 500, so that a
  database hiccup makes the ESP retry instead of losing the event.
"""

import logging
from functools import wraps

import anymail.urls
from anymail.exceptions import (
    AnymailAPIError,
    AnymailConfigurationError,
    AnymailWebhookValidationFailure,
)
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponseForbidden
from django.urls import path

logger = logging.getLogger(__name__)

MALFORMED = (
    AnymailAPIError,
    AnymailConfigurationError,
    ValueError,
    KeyError,
    TypeError,
    AttributeError,
    IndexError,
)


class MalformedWebhook(AnymailWebhookValidationFailure):
    """A SuspiciousOperation: Django answers 400 and logs it under django.security."""


class FailClosed:
    """Mixed in before one of anymail's tracking views."""

    def post(self, request, *args, **kwargs):
        if self.warn_if_no_basic_auth and not self.basic_auth:
            logger.warning("tracking webhook refused: no secret", extra={"esp": self.esp_name})
            return HttpResponseForbidden("Set ANYMAIL_WEBHOOK_SECRET to accept tracking webhooks.")
        return super().post(request, *args, **kwargs)

    def run_validators(self, request):
        try:
            super().run_validators(request)
        except AnymailWebhookValidationFailure:
            raise
        except MALFORMED as error:
            raise MalformedWebhook(f"Malformed {self.esp_name} webhook: {error}") from error

    def parse_events(self, request):
        try:
            return super().parse_events(request)
        except MALFORMED as error:
            raise MalformedWebhook(f"Malformed {self.esp_name} webhook: {error}") from error


def _fail_closed(view_class):
    view = type(view_class.__name__, (FailClosed, view_class), {}).as_view()

    @wraps(view)
    def endpoint(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except ImproperlyConfigured as error:
            # Raised while the view is built: this ESP's keys are not configured here.
            logger.warning("tracking webhook refused: %s", error)
            return HttpResponseForbidden("This sending service is not configured.")

    return endpoint


def _tracking_urls():
    """Every ESP anymail supports, at the URL anymail documents for it."""
    for pattern in anymail.urls.urlpatterns:
        name = pattern.name or ""
        if name.endswith("_tracking_webhook") and not name.startswith("mandrill"):
            yield path(str(pattern.pattern), _fail_closed(pattern.callback.view_class), name=name)


app_name = "webhooks"
urlpatterns = list(_tracking_urls())
