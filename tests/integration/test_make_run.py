"""`make run` from a clean copy of the repository, as a new user runs it: the embedded
PostgreSQL and Redis, a real worker and beat, every feature, and Ctrl-C stops everything.

The copy holds the files git would commit from this working tree (tracked and new, not
ignored), so the test sees uncommitted work as well, where a ``git clone`` would test
the last commit only; ignored files (``var/``, ``.venv/``, ``node_modules/``,
``static/dist/``) are left out, as on a fresh clone. It lives in /tmp rather than in
pytest's root-only tmp tree, which PostgreSQL (run as ``nobody`` under root) could not
enter. It reuses this machine's uv and npm caches, and this checkout's uv when it has one.
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.integration.processes import ROOT, Process

pytestmark = [pytest.mark.integration]

LISTS = ["announcements", "releases"]
IMPORTED = "newcomer@example.org"
OUTBOX = """
import json
from delivery.models import OutboxMessage
print(json.dumps([
    {"to": message.recipients, "subject": message.subject, "html": message.body("html")}
    for message in OutboxMessage.objects.filter(subject__in=%r)
]))
"""


def copy_of_the_repository() -> Path:
    """The files a commit of this working tree would hold, in a directory of their own."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    target = Path(tempfile.mkdtemp(prefix="crier-make-run-"))
    target.chmod(0o755)  # as a checkout is: PostgreSQL runs as another account under root
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the working tree is not copied
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def user_environment() -> dict[str, str]:
    """A person's shell: this machine's environment without Crier's or the suite's
    settings; this checkout's uv when it has one (as a developer would have uv)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "SITE_URL", "VIRTUAL_ENV"}
        and not key.startswith(("CRIER_", "DJANGO_", "PYTEST", "BENCH_"))
    }
    if (ROOT / ".tools" / "bin" / "uv").exists():
        env["PATH"] = f"{ROOT / '.tools' / 'bin'}:{env['PATH']}"
    return env


def manage(checkout: Path, *args: str) -> str:
    """``python3 manage.py ...`` in the copy with no Crier settings in the environment, and
    the system's python3, which has no Django: manage.py re-runs itself in .venv."""
    result = subprocess.run(
        ["/usr/bin/python3", "manage.py", *args],
        cwd=checkout,
        env=user_environment(),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """Read a redirect instead of following it: tests never reach another host."""

    def redirect_request(self, *args, **kwargs):
        return None


def api(base_url: str, token: str, method: str, path: str, body: dict | None = None):
    request = urllib.request.Request(
        f"{base_url}/api/v1{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        raise AssertionError(f"{method} {path}: {error.code} {error.read()!r}") from None


def confirmed_on_a_list(subscriber: dict) -> bool:
    return any(sub["slug"] in LISTS and sub["status"] == "confirmed" for sub in subscriber["lists"])


def outbox(checkout: Path, subjects: list[str]) -> list[dict]:
    """The outbox's messages with one of these subjects (a campaign's editions each have
    their own), read with ``manage.py shell`` in the copy."""
    return json.loads(manage(checkout, "shell", "-c", OUTBOX % subjects).splitlines()[-1])


def wait_for(what: str, probe, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while not (result := probe()):
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout}s")
        time.sleep(1)
    return result


def processes_in(checkout: Path) -> list[str]:
    """Every process started from the copy: its binaries, its directory or its files."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            places = [os.readlink(proc / "exe"), os.readlink(proc / "cwd")]
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if any(place.startswith(str(checkout)) for place in places) or str(checkout) in command:
            found.append(f"{proc.name}: {command}")
    return found


def wait_until_none_left(checkout: Path, timeout: float = 60) -> list[str]:
    deadline = time.monotonic() + timeout
    while (left := processes_in(checkout)) and time.monotonic() < deadline:
        time.sleep(0.3)
    return left


def start_make_run(checkout: Path, port: int, log: Path) -> Process:
    process = Process(["make", "run", f"PORT={port}"], user_environment(), log, cwd=checkout)
    # A fresh copy installs .venv and node_modules and migrates: minutes on a busy machine.
    process.wait_for_url(f"http://127.0.0.1:{port}/healthz", timeout=600)
    process.wait_for_output("embedded@", timeout=120)
    process.wait_for_output("beat: Starting", timeout=120)
    return process


def test_make_run_does_every_job_on_its_own_servers_and_stops_on_ctrl_c(tmp_path):
    checkout = copy_of_the_repository()
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    try:
        first = start_make_run(checkout, port, tmp_path / "first.log")
        try:
            health = json.loads(urllib.request.urlopen(f"{base_url}/healthz").read())
            assert health == {"status": "ok", "db": "ok", "redis": "ok", "broker": "ok"}
            assert re.search(r"as admin / (\S+)", first.output())

            # Send the demo's draft to the demo's lists; every recipient lands in the outbox.
            token = manage(checkout, "api_token", "admin", "demo").strip().splitlines()[-1]
            draft = next(
                campaign
                for campaign in api(base_url, token, "GET", "/campaigns/")["items"]
                if campaign["status"] == "draft"
            )
            api(base_url, token, "PATCH", f"/campaigns/{draft['id']}/", {"lists": LISTS})
            audience = {
                subscriber["email"]
                for subscriber in api(base_url, token, "GET", "/subscribers/")["items"]
                if confirmed_on_a_list(subscriber)
            }
            assert audience
            sending = api(base_url, token, "POST", f"/campaigns/{draft['id']}/send/")
            assert sending["recipients"] == len(audience)
            editions = api(base_url, token, "GET", f"/campaigns/{draft['id']}/editions/")
            subjects = [draft["subject"]] + [edition["subject"] for edition in editions]

            messages = wait_for(
                "message to every recipient in the outbox",
                lambda: len(found := outbox(checkout, subjects)) == len(audience) and found,
            )
            assert {address for message in messages for address in message["to"]} == audience

            # Import a CSV through the contract's command; the bad row is named by its line.
            csv = tmp_path / "newcomers.csv"
            csv.write_text(f"email,name\n{IMPORTED},Newcomer\nnot-an-address,Nobody\n")
            summary = manage(
                checkout, "import_subscribers", str(csv), "--newsletter", "demo",
                "--list", "announcements", "--consent", "Signed up at the booth",
            )  # fmt: skip
            assert "line 3" in summary
            found = api(base_url, token, "GET", f"/subscribers/?email={IMPORTED}")["items"]
            assert [sub["slug"] for sub in found[0]["lists"]] == ["announcements"]

            # Follow a tracked link; beat's flush counts the click in the report.
            english = next(
                message for message in messages if message["subject"] == draft["subject"]
            )
            link = re.search(rf'href="({re.escape(base_url)}/t/c/[^"]+)"', english["html"])
            with pytest.raises(urllib.error.HTTPError) as redirect:
                urllib.request.build_opener(NoRedirect).open(link.group(1), timeout=30)
            assert redirect.value.code == 302
            assert redirect.value.headers["Location"].startswith("https://demo.example.org/")
            stats = f"/campaigns/{draft['id']}/stats/"
            clicked = wait_for(
                "click in the report",
                lambda: (found := api(base_url, token, "GET", stats))["clicks"]["total"] and found,
            )
            assert clicked["clicks"]["total"] == 1
            assert clicked["sent"] == len(audience)
        finally:
            first.interrupt(timeout=120)
        # Ctrl-C stops web, worker and beat, then PostgreSQL and Redis.
        assert wait_until_none_left(checkout) == []

        # A second make run serves the same data.
        second = start_make_run(checkout, port, tmp_path / "second.log")
        try:
            assert "the password printed when it was created" in second.output()
            found = api(base_url, token, "GET", f"/subscribers/?email={IMPORTED}")["items"]
            assert [subscriber["email"] for subscriber in found] == [IMPORTED]
            assert api(base_url, token, "GET", stats)["clicks"]["total"] == 1
        finally:
            second.interrupt(timeout=120)
        assert wait_until_none_left(checkout) == []
    finally:
        shutil.rmtree(checkout, ignore_errors=True)
