"""Crier settings, read from the environment (see docs/configuration.md).

With neither ``DATABASE_URL`` nor ``REDIS_URL`` Crier runs in its embedded mode: the
PostgreSQL and Redis that ``make run`` starts from Python wheels, with their data
under ``var/`` (``newsletter.embedded``). It is the same engine as production, which
sets both URLs (docker-compose.yml); there is no other database or broker.
"""

import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from newsletter.embedded import Servers

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("CRIER_VAR_DIR", BASE_DIR / "var")).resolve()


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DATABASE_URL = os.environ.get("DATABASE_URL", "")
REDIS_URL = os.environ.get("REDIS_URL", "")
EMBEDDED = not DATABASE_URL and not REDIS_URL
if not EMBEDDED and not (DATABASE_URL and REDIS_URL):
    raise ImproperlyConfigured(
        "Set both DATABASE_URL and REDIS_URL, or neither to use the embedded servers of make run."
    )
EMBEDDED_SERVERS = Servers(VAR_DIR) if EMBEDDED else None
if EMBEDDED_SERVERS:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    REDIS_URL = EMBEDDED_SERVERS.redis_url

DEBUG = env_bool("DEBUG")


def _secret_key() -> str:
    """Production must set SECRET_KEY; embedded mode keeps a generated one under var/.

    Persisting it lets a second ``make run`` keep sessions and signed links valid.
    """
    key = os.environ.get("SECRET_KEY", "")
    if key:
        return key
    if not EMBEDDED:
        raise ImproperlyConfigured("SECRET_KEY must be set when DATABASE_URL is set.")
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
# Keys that encrypt secrets at rest (sending backends' API keys and passwords): the
# first encrypts, all decrypt (rotation). Empty: derived from SECRET_KEY.
ENCRYPTION_KEYS = env_list("CRIER_ENCRYPTION_KEYS")
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", SITE_URL)

INSTALLED_APPS = [
    "newsletter",
    "subscribers",
    "campaigns",
    "delivery",
    "tracking",
    "dashboard",
    "api",
    "webhooks",
    "backup",
    "participation",
    "experiments",
    "audiences",
    "automations",
    "feeds",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.forms",
    "anymail",
    "csp",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "ninja",
]

MIDDLEWARE = [
    "newsletter.middleware.HealthCheckMiddleware",
    "newsletter.middleware.RequestSizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "tracking.middleware.TrackingMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "newsletter.urls"
WSGI_APPLICATION = "newsletter.wsgi.application"

# Form widgets and fields render through TEMPLATES (so a project template can draw them).
FORM_RENDERER = "newsletter.forms.FormRenderer"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

if EMBEDDED_SERVERS:
    DATABASES = {"default": EMBEDDED_SERVERS.database()}
else:
    DATABASES = {
        "default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)
    }
    if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured(
            f"DATABASE_URL must point at PostgreSQL (postgres://...), not "
            f"{DATABASE_URL.split(':', 1)[0]}."
        )
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = 5

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "crier",
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "dashboard:login"
LOGIN_REDIRECT_URL = "dashboard:home"
LOGOUT_REDIRECT_URL = "dashboard:login"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("fr", "Français")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("CRIER_MEDIA_ROOT", VAR_DIR / "media"))
MB = 1024 * 1024
IMAGE_UPLOAD_MAX_BYTES = int(os.environ.get("CRIER_IMAGE_UPLOAD_MAX_MB", "5")) * MB
# A CSV import (dashboard or API): a million rows of address and name is ~50 MB.
IMPORT_UPLOAD_MAX_BYTES = int(os.environ.get("CRIER_IMPORT_UPLOAD_MAX_MB", "100")) * MB
# Every other request body (forms, JSON, webhooks): Django's limit, answered with 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(float(os.environ.get("CRIER_REQUEST_MAX_MB", "2.5")) * MB)
# A file upload's whole body may be the largest upload plus the form around it.
UPLOAD_REQUEST_MAX_BYTES = max(IMAGE_UPLOAD_MAX_BYTES, IMPORT_UPLOAD_MAX_BYTES) + MB

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = SITE_URL.startswith("https://")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "SAMEORIGIN"
if env_bool("SECURE_PROXY_SSL_HEADER"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# How many reverse proxies in front of the web server append to X-Forwarded-For (0:
# none, the header is ignored). The client's address is read that many places from
# the right: what the client writes itself is never trusted (newsletter/http.py).
TRUSTED_PROXIES = int(os.environ.get("CRIER_TRUSTED_PROXIES", "0"))
# Dashboard login: failed or not, attempts counted per client IP and per username
# in a fixed window, so guessing a password (or a two-factor code) stays slow.
LOGIN_ATTEMPTS_PER_IP = int(os.environ.get("CRIER_LOGIN_ATTEMPTS_PER_IP", "30"))
LOGIN_ATTEMPTS_PER_USERNAME = int(os.environ.get("CRIER_LOGIN_ATTEMPTS_PER_USERNAME", "10"))
LOGIN_ATTEMPTS_WINDOW_SECONDS = int(os.environ.get("CRIER_LOGIN_ATTEMPTS_WINDOW", "900"))
# The issuer name authenticator apps show beside a Crier account.
OTP_TOTP_ISSUER = os.environ.get("CRIER_TOTP_ISSUER", "Crier")
SUBSCRIBE_ATTEMPTS_PER_IP_PER_HOUR = int(os.environ.get("CRIER_SUBSCRIBE_ATTEMPTS_PER_IP", "20"))
# Participation (docs/participation.md): submissions to open calls and answer-link
# requests per IP address and hour, and the longest text a contribution may have.
CALL_SUBMISSIONS_PER_IP_PER_HOUR = int(os.environ.get("CRIER_CALL_SUBMISSIONS_PER_IP", "10"))
CALL_TEXT_MAX_CHARS = int(os.environ.get("CRIER_CALL_TEXT_MAX_CHARS", "2000"))
ANSWER_LINK_REQUESTS_PER_IP_PER_HOUR = int(
    os.environ.get("CRIER_ANSWER_LINK_REQUESTS_PER_IP", "10")
)
# Upper bound of the proof-of-work search: about half a second in a phone's browser.
PROOF_OF_WORK_MAX_NUMBER = int(os.environ.get("CRIER_PROOF_OF_WORK_MAX_NUMBER", "100000"))

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "frame-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'self'"],
    }
}

# Uploaded CSV imports wait here for the worker: web and worker must share it.
IMPORT_DIR = Path(os.environ.get("CRIER_IMPORT_DIR", VAR_DIR / "imports"))
# A bulk action on more people than this runs in the worker, with progress, not in
# the request (subscribers/bulk_jobs.py).
BULK_ACTION_IN_REQUEST_MAX = int(os.environ.get("CRIER_BULK_IN_REQUEST_MAX", "1000"))
API_REQUESTS_PER_TOKEN_PER_MINUTE = int(os.environ.get("CRIER_API_RATE_LIMIT", "600"))
# Test messages (campaign tests, backend tests) a member may send per newsletter per
# hour, dashboard and API together: they go to any address typed in.
TEST_MAILS_PER_HOUR = int(os.environ.get("CRIER_TEST_MAILS_PER_HOUR", "20"))

# Mail. Without an ESP configured, mail goes to the outbox shown in the dashboard.
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Crier <crier@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "delivery.backends.outbox.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS")
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL")
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", "30"))
ANYMAIL = {
    key.removeprefix("ANYMAIL_"): value
    for key, value in os.environ.items()
    if key.startswith("ANYMAIL_") and value
}
OUTBOX_RETENTION_DAYS = int(os.environ.get("CRIER_OUTBOX_RETENTION_DAYS", "30"))
# An address whose mail Crier reads for unsubscribe requests (docs/feedback.md): each
# message's List-Unsubscribe then also offers mailto:<local>+<signed delivery>@<domain>
# (the HTTPS one-click target always is there). Its mail reaches
# `manage.py process_unsubscribes` from a pipe, or beat polls CRIER_UNSUBSCRIBE_IMAP_*.
UNSUBSCRIBE_MAILTO = os.environ.get("CRIER_UNSUBSCRIBE_MAILTO", "")
UNSUBSCRIBE_IMAP_HOST = os.environ.get("CRIER_UNSUBSCRIBE_IMAP_HOST", "")
UNSUBSCRIBE_IMAP_PORT = int(os.environ.get("CRIER_UNSUBSCRIBE_IMAP_PORT", "993"))
UNSUBSCRIBE_IMAP_USER = os.environ.get("CRIER_UNSUBSCRIBE_IMAP_USER", "")
UNSUBSCRIBE_IMAP_PASSWORD = os.environ.get("CRIER_UNSUBSCRIBE_IMAP_PASSWORD", "")
UNSUBSCRIBE_IMAP_FOLDER = os.environ.get("CRIER_UNSUBSCRIBE_IMAP_FOLDER", "INBOX")
UNSUBSCRIBE_IMAP_SSL = env_bool("CRIER_UNSUBSCRIBE_IMAP_SSL", True)
# DKIM signing of campaign mail sent over SMTP (ESPs sign their own): all three or none.
DKIM_DOMAIN = os.environ.get("CRIER_DKIM_DOMAIN", "")
DKIM_SELECTOR = os.environ.get("CRIER_DKIM_SELECTOR", "")
DKIM_PRIVATE_KEY_FILE = os.environ.get("CRIER_DKIM_PRIVATE_KEY_FILE", "")
# What ESPs and bounce mail report after sending (docs/feedback.md): soft bounces in a
# row before an address is suppressed (0: never), and days webhook events are kept
# to recognise a repeat (ESPs stop retrying within days).
SOFT_BOUNCE_LIMIT = int(os.environ.get("CRIER_SOFT_BOUNCE_LIMIT", "3"))
FEEDBACK_EVENT_RETENTION_DAYS = int(os.environ.get("CRIER_FEEDBACK_EVENT_RETENTION_DAYS", "30"))
# VERP for SMTP: campaign mail gets the envelope sender
# <CRIER_BOUNCE_LOCAL_PART>+<signed delivery token>@<CRIER_BOUNCE_DOMAIN>, a mailbox
# whose mail `manage.py process_bounces` reads (from a pipe, or over IMAP).
BOUNCE_DOMAIN = os.environ.get("CRIER_BOUNCE_DOMAIN", "")
BOUNCE_LOCAL_PART = os.environ.get("CRIER_BOUNCE_LOCAL_PART", "bounces")
BOUNCE_IMAP_HOST = os.environ.get("CRIER_BOUNCE_IMAP_HOST", "")
BOUNCE_IMAP_PORT = int(os.environ.get("CRIER_BOUNCE_IMAP_PORT", "993"))
BOUNCE_IMAP_USER = os.environ.get("CRIER_BOUNCE_IMAP_USER", "")
BOUNCE_IMAP_PASSWORD = os.environ.get("CRIER_BOUNCE_IMAP_PASSWORD", "")
BOUNCE_IMAP_FOLDER = os.environ.get("CRIER_BOUNCE_IMAP_FOLDER", "INBOX")
BOUNCE_IMAP_SSL = env_bool("CRIER_BOUNCE_IMAP_SSL", True)
# Campaign sending: messages per claimed batch, parallel batch tasks per campaign,
# attempts before a message fails, and shared rates (0: unlimited).
SEND_BATCH_SIZE = int(os.environ.get("CRIER_SEND_BATCH_SIZE", "100"))
SEND_PARALLELISM = int(os.environ.get("CRIER_SEND_PARALLELISM", "4"))
SEND_MAX_ATTEMPTS = int(os.environ.get("CRIER_SEND_MAX_ATTEMPTS", "5"))
SEND_LEASE_SECONDS = int(os.environ.get("CRIER_SEND_LEASE_SECONDS", "120"))
# A running send task's process writes a heartbeat this often; the rows of a worker
# silent for longer than the silence limit are taken back before their lease ends
# (delivery/heartbeats.py). The limit must leave room for a few missed beats.
SEND_HEARTBEAT_SECONDS = float(os.environ.get("CRIER_SEND_HEARTBEAT_SECONDS", "2"))
SEND_WORKER_SILENCE_SECONDS = float(os.environ.get("CRIER_SEND_WORKER_SILENCE_SECONDS", "8"))
SEND_RATE_PER_SECOND = float(os.environ.get("CRIER_SEND_RATE_PER_SECOND", "0"))
SEND_RATE_PER_DOMAIN_PER_SECOND = float(
    os.environ.get("CRIER_SEND_RATE_PER_DOMAIN_PER_SECOND", "0")
)
# A newsletter's own SMTP host or API URL must resolve to public addresses, as
# outgoing webhooks must: an owner must not reach the server's own network with it.
SENDING_ALLOW_PRIVATE_HOSTS = env_bool("CRIER_SENDING_ALLOW_PRIVATE_HOSTS")
# A campaign pauses itself when more than this share of at least 50 attempts failed.
SEND_PAUSE_ERROR_RATE = float(os.environ.get("CRIER_SEND_PAUSE_ERROR_RATE", "0.2"))

# Outgoing webhooks (docs/webhooks.md). Endpoints must be public HTTPS addresses
# unless an admin allows plain HTTP or private networks (an intranet receiver).
WEBHOOKS_ALLOW_PRIVATE = env_bool("CRIER_WEBHOOKS_ALLOW_PRIVATE")
WEBHOOKS_ALLOW_HTTP = env_bool("CRIER_WEBHOOKS_ALLOW_HTTP")
WEBHOOKS_TIMEOUT_SECONDS = float(os.environ.get("CRIER_WEBHOOKS_TIMEOUT_SECONDS", "5"))
WEBHOOKS_MAX_RESPONSE_BYTES = 64 * 1024
WEBHOOKS_MAX_ATTEMPTS = int(os.environ.get("CRIER_WEBHOOKS_MAX_ATTEMPTS", "10"))

# Followed feeds (docs/feeds.md): fetched like webhooks are posted, public HTTPS only
# unless an admin allows plain HTTP or private networks, within a size and a time limit.
# file:// feeds are read only under CRIER_FEEDS_FILE_ROOT; make run (the embedded
# servers) sets it to the demo's own feed folder, a deployment leaves it off.
FEEDS_ALLOW_PRIVATE = env_bool("CRIER_FEEDS_ALLOW_PRIVATE")
FEEDS_ALLOW_HTTP = env_bool("CRIER_FEEDS_ALLOW_HTTP")
FEEDS_TIMEOUT_SECONDS = float(os.environ.get("CRIER_FEEDS_TIMEOUT_SECONDS", "10"))
FEEDS_MAX_BYTES = int(os.environ.get("CRIER_FEEDS_MAX_BYTES", str(2 * 1024 * 1024)))
FEEDS_FILE_ROOT = os.environ.get("CRIER_FEEDS_FILE_ROOT") or (
    str(BASE_DIR / "feeds" / "demo") if EMBEDDED_SERVERS else ""
)

# Celery. PostgreSQL is the source of truth; the broker only carries ids of work
# that a sweeper can re-enqueue, so losing Redis delays work but loses nothing.
CELERY_BROKER_URL = EMBEDDED_SERVERS.broker_url if EMBEDDED_SERVERS else REDIS_URL
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Longer than any task may run, so a slow task is not handed out twice.
    "visibility_timeout": 3600,
    "socket_connect_timeout": 5,
}
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = 300
CELERY_TASK_TIME_LIMIT = 360
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES = (Queue("default"), Queue("send"))
CELERY_TASK_ROUTES = {
    # Housekeeping must not wait behind a large campaign on the send queue.
    "delivery.tasks.sweep": {"queue": "default"},
    "delivery.tasks.take_back_from_silent_workers": {"queue": "default"},
    "delivery.tasks.start_due_campaigns": {"queue": "default"},
    "delivery.tasks.prune_outbox": {"queue": "default"},
    "delivery.tasks.prune_feedback_events": {"queue": "default"},
    "delivery.tasks.poll_bounce_mailbox": {"queue": "default"},
    "delivery.tasks.poll_unsubscribe_mailbox": {"queue": "default"},
    "delivery.tasks.send_backend_test": {"queue": "default"},
    "delivery.tasks.check_backend_connection": {"queue": "default"},
    "delivery.tasks.*": {"queue": "send"},
}
CELERY_BEAT_SCHEDULE = {
    "prune-outbox": {"task": "delivery.tasks.prune_outbox", "schedule": 3600.0},
    "prune-feedback-events": {"task": "delivery.tasks.prune_feedback_events", "schedule": 3600.0},
    "poll-bounce-mailbox": {"task": "delivery.tasks.poll_bounce_mailbox", "schedule": 300.0},
    "poll-unsubscribe-mailbox": {
        "task": "delivery.tasks.poll_unsubscribe_mailbox",
        "schedule": 300.0,
    },
    "start-due-campaigns": {"task": "delivery.tasks.start_due_campaigns", "schedule": 15.0},
    "sweep-deliveries": {"task": "delivery.tasks.sweep", "schedule": 30.0},
    # A killed worker's rows come back within seconds, not when their lease ends.
    "take-back-from-silent-workers": {
        "task": "delivery.tasks.take_back_from_silent_workers",
        "schedule": 5.0,
    },
    # Automatic experiments whose time is up: the winner goes to the rest (docs/experiments.md).
    "decide-experiments": {"task": "experiments.tasks.decide_due", "schedule": 60.0},
    # Digests whose period ended (in each reader's time zone) are made and sent.
    "send-digests": {"task": "delivery.tasks.send_digests", "schedule": 60.0},
    # People due for their next step; anniversaries checked hourly (docs/automations.md).
    "automations-advance": {"task": "automations.tasks.advance", "schedule": 15.0},
    "automations-segments": {"task": "automations.tasks.enrol_segments", "schedule": 60.0},
    "automations-anniversaries": {
        "task": "automations.tasks.enrol_anniversaries",
        "schedule": 3600.0,
    },
    # Opens and clicks wait in Redis; counted in PostgreSQL in batches (docs/tracking.md).
    "flush-tracking": {"task": "tracking.tasks.flush", "schedule": 10.0},
    "webhooks-redispatch": {"task": "webhooks.tasks.redispatch_due", "schedule": 30.0},
    "webhooks-prune": {"task": "webhooks.tasks.prune", "schedule": 86400.0},
    # Bulk jobs whose worker died or whose message was lost (docs/subscribers.md).
    "resume-bulk-jobs": {"task": "subscribers.tasks.resume_bulk_jobs", "schedule": 60.0},
    # Followed feeds whose time has come make their issue (docs/feeds.md).
    "feeds-run-due": {"task": "feeds.tasks.run_due_feeds", "schedule": 60.0},
    # The transparency pages' figures, from the ledger and the rollups (docs/participation.md).
    "participation-transparency": {
        "task": "participation.tasks.refresh_transparency",
        "schedule": 3600.0,
    },
}
CELERY_TIMEZONE = TIME_ZONE

LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO").upper()
LOG_FORMAT = os.environ.get("LOG_FORMAT", "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
        "text": {"format": "%(asctime)s %(levelname)-7s %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "celery": {"level": LOG_LEVEL},
    },
}
