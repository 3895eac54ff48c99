"""django-anymail's tracking webhooks, failing closed, each speaking for its own scope.

- ``/webhooks/anymail/<esp>/tracking/``: the instance's default backend, with
  ``ANYMAIL_WEBHOOK_SECRET`` (and the ESP's signing key where anymail checks one).
  Its events act only on newsletters that send through the default backend.
- ``/webhooks/anymail/<esp>/tracking/<key>/``: one newsletter's own sending backend,
  with that backend's own basic-auth secret (shown to its owners) and none of the
  instance's settings. Its events act only on that newsletter's deliveries.

anymail validates each post and normalises it; instead of anymail's ``tracking``
signal, every event goes to ``feedback.record`` with the URL's ``Scope``. Around
anymail's views this adds:

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
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ImproperlyConfigured
from django.http import Http404, HttpResponseForbidden
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from newsletter.encryption import DecryptionError

from . import feedback
from .models import SendingBackend
from .sending_backends import webhook_view_options
from .transports import TRACKING_WEBHOOK_KINDS

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


class _Recorder:
    """Stands in for anymail's ``tracking`` signal: records each event within a scope."""

    def __init__(self, scope: feedback.Scope) -> None:
        self.scope = scope

    def send(self, sender, event, esp_name: str) -> None:
        found = feedback.from_anymail(event, esp_name)
        if found is not None:  # opens, clicks, queued…: not ours to act on
            feedback.record(feedback=found, scope=self.scope)


class FailClosed:
    """Mixed in before one of anymail's tracking views."""

    scope = feedback.DEFAULT_BACKEND

    @property
    def signal(self):
        return _Recorder(self.scope)

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


def _checked(view_class):
    return type(view_class.__name__, (FailClosed, view_class), {})


def _fail_closed(view_class):
    view = _checked(view_class).as_view()

    @wraps(view)
    def endpoint(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except ImproperlyConfigured as error:
            # Raised while the view is built: this ESP's keys are not configured here.
            logger.warning("tracking webhook refused: %s", error)
            return HttpResponseForbidden("This sending service is not configured.")

    return endpoint


def _tracking_views():
    """Every ESP anymail supports: its URL path and tracking view."""
    for pattern in anymail.urls.urlpatterns:
        name = pattern.name or ""
        if name.endswith("_tracking_webhook") and not name.startswith("mandrill"):
            yield str(pattern.pattern), name, pattern.callback.view_class


BACKEND_VIEWS = {
    route.split("/")[0]: _checked(view_class) for route, _, view_class in _tracking_views()
}


@csrf_exempt
@login_not_required
def backend_tracking_webhook(request, esp: str, key: str):
    """A newsletter's own backend: its secret, its options, its deliveries only."""
    backend = (
        SendingBackend.objects.filter(webhook_key=key, kind=esp).first()
        if esp in TRACKING_WEBHOOK_KINDS
        else None
    )
    if backend is None:
        raise Http404
    try:
        options = webhook_view_options(backend)
    except DecryptionError:
        logger.error("tracking webhook refused: secrets unreadable", extra={"backend": backend.pk})
        return HttpResponseForbidden("This backend's secrets cannot be read; enter them again.")
    if "webhook_signing_key" in options and not options["webhook_signing_key"]:
        logger.warning("tracking webhook refused: no signing key", extra={"backend": backend.pk})
        return HttpResponseForbidden("Enter this service's webhook signing key in Crier first.")
    view = BACKEND_VIEWS[esp](**options)
    view.scope = feedback.Scope(newsletter_id=backend.newsletter_id)
    view.setup(request, esp=esp, key=key)
    return view.dispatch(request, esp=esp, key=key)


app_name = "webhooks"
urlpatterns = [
    *(path(route, _fail_closed(view), name=name) for route, name, view in _tracking_views()),
    path(
        "<slug:esp>/tracking/<str:key>/",
        backend_tracking_webhook,
        name="backend_tracking_webhook",
    ),
]
