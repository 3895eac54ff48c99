"""docker-compose.yml's Python services, run here as written (there is no Docker engine).

Each service's command runs with the environment the file gives it, `.env.example`
standing in for `.env`. Only what exists inside the compose network alone is
replaced: the postgres and redis host names, and the published port.
"""

import json
import os
import re
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import psycopg
import pytest
import yaml
from django.conf import settings

from tests.conftest import free_port
from tests.integration.processes import ROOT, Process

pytestmark = pytest.mark.integration

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
# Beside the suite's own database, so that two suites on one machine do not collide.
DATABASE = f"{settings.DATABASES['default']['NAME']}_compose"
INTERPOLATION = re.compile(r"\$\$|\$\{(\w+)(?::([-?])([^}]*))?\}")


def dotenv(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs if not key.lstrip().startswith("#")}


ENV_FILE = dotenv(ROOT / ".env.example")


def interpolate(text: str) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR:?error} and $$, from .env."""

    def replace(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name, kind, argument = match.groups()
        value = ENV_FILE.get(name, "")
        if not value and kind == "?":
            raise AssertionError(f"compose needs {name}: {argument}")
        return value or (argument if kind == "-" else "")

    return INTERPOLATION.sub(replace, text)


def service_env(name: str, port: int) -> dict[str, str]:
    service = COMPOSE["services"][name]
    assert service["env_file"] == ".env"
    env = {**os.environ, **ENV_FILE}
    env.update({key: interpolate(str(value)) for key, value in service["environment"].items()})
    assert env["DATABASE_URL"].endswith("@postgres:5432/crier")
    assert env["REDIS_URL"] == "redis://redis:6379/0"
    env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{DATABASE}"
    env["REDIS_URL"] = settings.REDIS_URL
    env["HOST"] = "127.0.0.1"
    env["PORT"] = str(port)
    env["HOSTNAME"] = socket.gethostname()
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return env


def command(name: str) -> str:
    return interpolate(COMPOSE["services"][name]["command"])


def healthcheck(name: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    test = COMPOSE["services"][name]["healthcheck"]["test"]
    kind, *argv = [interpolate(part) for part in test]
    args = ["sh", "-c", argv[0]] if kind == "CMD-SHELL" else argv
    env = {**env, "PATH": f"{ROOT / '.venv' / 'bin'}:{env['PATH']}"}
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def compose_database():
    with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as db:
        db.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        db.execute(f"CREATE DATABASE {DATABASE}")
    yield DATABASE
    with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as db:
        db.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


def test_compose_defines_the_five_services_with_health_checks_and_volumes():
    services = COMPOSE["services"]
    assert set(services) == {"web", "worker", "beat", "postgres", "redis"}
    assert all("healthcheck" in service for service in services.values())
    assert all(service["restart"] == "unless-stopped" for service in services.values())
    assert services["postgres"]["image"] == "postgres:16"
    assert services["redis"]["image"] == "redis:7"
    assert set(COMPOSE["volumes"]) == {"postgres-data", "redis-data", "media-data"}
    assert services["web"]["volumes"] == ["media-data:/app/var/media"]


def test_web_migrates_then_serves_through_gunicorn_with_collected_static(
    tmp_path, compose_database
):
    port = free_port()
    env = service_env("web", port)
    # The image runs collectstatic at build time (Dockerfile); do the same here.
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    web = Process(command("web"), env, tmp_path / "web.log")
    try:
        health = json.loads(web.wait_for_url(f"http://127.0.0.1:{port}/healthz", timeout=120))
        assert health == {"status": "ok", "db": "ok", "redis": "ok", "broker": "ok"}
        assert healthcheck("web", env).returncode == 0
        login = urllib.request.Request(
            f"http://127.0.0.1:{port}/dashboard/login/", headers={"Host": "news.example.org"}
        )
        with urllib.request.urlopen(login, timeout=10) as response:
            page = response.read().decode()
        stylesheet = re.search(r'href="(/static/dist/app\.[0-9a-f]+\.css)"', page).group(1)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{stylesheet}", timeout=10) as css:
            assert css.status == 200
        assert "Applying newsletter.0001_initial... OK" in web.output()
    finally:
        web.stop()


def test_worker_starts_answers_its_healthcheck_and_logs_json(tmp_path, compose_database):
    env = service_env("worker", free_port())
    worker = Process(command("worker"), env, tmp_path / "worker.log")
    try:
        worker.wait_for_output("ready.", timeout=60)
        check = healthcheck("worker", env)
        assert check.returncode == 0, check.stdout + check.stderr
        json_lines = [line for line in worker.output().splitlines() if line.startswith("{")]
        assert any(json.loads(line)["logger"] == "celery.apps.worker" for line in json_lines)
    finally:
        worker.stop()


def test_beat_starts_and_answers_its_healthcheck(tmp_path, compose_database):
    env = service_env("beat", free_port())
    beat = Process(command("beat"), env, tmp_path / "beat.log")
    try:
        beat.wait_for_output("beat: Starting", timeout=60)
        check = healthcheck("beat", env)
        assert check.returncode == 0, check.stdout + check.stderr
    finally:
        beat.stop()
