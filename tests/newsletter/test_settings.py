"""The embedded mode and production settings, each imported in a clean process."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRINT_SETTINGS = """
import json, django
from django.conf import settings
django.setup()
print(json.dumps({
    "engine": settings.DATABASES["default"]["ENGINE"],
    "name": str(settings.DATABASES["default"]["NAME"]),
    "host": str(settings.DATABASES["default"]["HOST"]),
    "cache": settings.CACHES["default"]["BACKEND"],
    "cache_location": settings.CACHES["default"]["LOCATION"],
    "redis": settings.REDIS_URL,
    "broker": settings.CELERY_BROKER_URL,
    "email": settings.EMAIL_BACKEND,
    "secret_key": settings.SECRET_KEY,
    "queues": [queue.name for queue in settings.CELERY_TASK_QUEUES],
    "acks_late": settings.CELERY_TASK_ACKS_LATE,
    "reject_on_worker_lost": settings.CELERY_TASK_REJECT_ON_WORKER_LOST,
    "serializer": settings.CELERY_TASK_SERIALIZER,
    "cookies": [settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE,
                settings.SESSION_COOKIE_HTTPONLY, settings.SESSION_COOKIE_SAMESITE],
}))
"""


def settings_in_clean_process(**env: str) -> subprocess.CompletedProcess:
    base = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY"}
    }
    return subprocess.run(
        [sys.executable, "-c", PRINT_SETTINGS],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "newsletter.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_without_urls_crier_uses_the_embedded_servers_under_var(tmp_path):
    result = settings_in_clean_process(CRIER_VAR_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    embedded = json.loads(result.stdout)
    # The same engines as production, reached over sockets under var/run.
    assert embedded["engine"] == "django.db.backends.postgresql"
    assert embedded["name"] == "crier"
    assert embedded["host"] == str(tmp_path / "run")
    assert embedded["redis"] == f"unix://{tmp_path}/run/redis.sock?db=0"
    assert embedded["cache"] == "django.core.cache.backends.redis.RedisCache"
    assert embedded["cache_location"] == embedded["redis"]
    assert embedded["broker"] == f"redis+socket://{tmp_path}/run/redis.sock"
    assert embedded["email"] == "delivery.backends.outbox.EmailBackend"
    # Reading the settings starts nothing: manage.py and make run do.
    assert sorted(path.name for path in tmp_path.iterdir()) == ["secret_key"]


def test_a_var_directory_too_deep_for_a_socket_gets_a_short_one_in_tmp(tmp_path):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    embedded = json.loads(settings_in_clean_process(CRIER_VAR_DIR=str(deep)).stdout)
    assert embedded["host"].startswith("/tmp/crier-")
    assert embedded["redis"] == f"unix://{embedded['host']}/redis.sock?db=0"
    again = json.loads(settings_in_clean_process(CRIER_VAR_DIR=str(deep)).stdout)
    assert again["host"] == embedded["host"]
    other = json.loads(settings_in_clean_process(CRIER_VAR_DIR=str(deep / "other")).stdout)
    assert other["host"] != embedded["host"]


def test_embedded_secret_key_is_generated_once_and_kept(tmp_path):
    first = json.loads(settings_in_clean_process(CRIER_VAR_DIR=str(tmp_path)).stdout)
    second = json.loads(settings_in_clean_process(CRIER_VAR_DIR=str(tmp_path)).stdout)
    assert len(first["secret_key"]) > 40
    assert first["secret_key"] == second["secret_key"]
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_production_takes_its_services_from_the_environment():
    result = settings_in_clean_process(
        DATABASE_URL="postgres://crier:pw@db.internal:5432/crier",
        REDIS_URL="redis://cache.internal:6379/0",
        SECRET_KEY="from-the-environment",
    )
    assert result.returncode == 0, result.stderr
    production = json.loads(result.stdout)
    assert production["engine"] == "django.db.backends.postgresql"
    assert production["name"] == "crier"
    assert production["cache"] == "django.core.cache.backends.redis.RedisCache"
    assert production["broker"] == "redis://cache.internal:6379/0"
    assert production["queues"] == ["default", "send"]
    assert production["acks_late"] and production["reject_on_worker_lost"]
    assert production["serializer"] == "json"


def test_production_refuses_to_start_without_a_secret_key():
    result = settings_in_clean_process(
        DATABASE_URL="postgres://crier:pw@db.internal/crier", REDIS_URL="redis://cache.internal/0"
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DATABASE_URL is set." in result.stderr


def test_one_url_without_the_other_is_refused():
    for env in (
        {"DATABASE_URL": "postgres://crier:pw@db.internal/crier"},
        {"REDIS_URL": "redis://cache.internal:6379/0"},
    ):
        result = settings_in_clean_process(SECRET_KEY="from-the-environment", **env)
        assert result.returncode != 0
        assert (
            "Set both DATABASE_URL and REDIS_URL, or neither to use the embedded servers"
            in result.stderr
        )


def test_a_database_other_than_postgresql_is_refused():
    result = settings_in_clean_process(
        DATABASE_URL="mysql://crier:pw@db.internal/crier",
        REDIS_URL="redis://cache.internal:6379/0",
        SECRET_KEY="from-the-environment",
    )
    assert result.returncode != 0
    assert "DATABASE_URL must point at PostgreSQL (postgres://...), not mysql." in result.stderr


def test_cookies_travel_only_over_tls_when_the_site_is_https(tmp_path):
    https = settings_in_clean_process(
        CRIER_VAR_DIR=str(tmp_path), SITE_URL="https://news.example.org"
    )
    assert json.loads(https.stdout)["cookies"] == [True, True, True, "Lax"]
    http = settings_in_clean_process(CRIER_VAR_DIR=str(tmp_path), SITE_URL="http://127.0.0.1:8000")
    assert json.loads(http.stdout)["cookies"] == [False, False, True, "Lax"]
