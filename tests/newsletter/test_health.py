import pytest


@pytest.mark.django_db
def test_healthz_reports_each_dependency(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "db": "ok", "redis": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_healthz_answers_probes_whatever_their_host_header(client, settings):
    settings.ALLOWED_HOSTS = ["news.example.org"]
    assert client.get("/healthz", HTTP_HOST="127.0.0.1:8000").status_code == 200
    assert client.get("/dashboard/login/", HTTP_HOST="127.0.0.1:8000").status_code == 400


@pytest.mark.django_db
def test_healthz_is_503_and_names_redis_and_broker_when_redis_is_down(client, settings):
    unreachable = "redis://127.0.0.1:1/0"
    settings.REDIS_URL = unreachable
    settings.CELERY_BROKER_URL = unreachable
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "db": "ok",
        "redis": "down",
        "broker": "down",
    }


@pytest.mark.django_db
def test_healthz_is_503_when_the_database_is_down(client, settings, monkeypatch):
    from django.db import connection

    def refuse(*args, **kwargs):
        raise connection.Database.OperationalError("connection refused")

    monkeypatch.setattr(connection, "cursor", refuse)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["db"] == "down"


def test_healthz_rejects_writes(client):
    assert client.post("/healthz").status_code == 405
