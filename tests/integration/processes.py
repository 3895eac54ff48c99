"""Real processes for integration tests: started in their own session, always stopped."""

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


# Every process a test started, so that one a failing test never reached the end of
# (a worker meant to be killed further down) cannot outlive it and take later tests' tasks.
STARTED: list["Process"] = []


def kill_leftovers() -> None:
    """SIGKILL the process group of every process started so far, if any of it lives."""
    while STARTED:
        process = STARTED.pop()
        try:
            os.killpg(process.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
        process.popen.wait(10)


class Process:
    """A command whose combined output goes to a file the test can read and wait on."""

    def __init__(
        self, command: list[str] | str, env: dict[str, str], log: Path, cwd: Path = ROOT
    ) -> None:
        self.log = log
        venv_bin = cwd / ".venv" / "bin"
        self.popen = subprocess.Popen(
            command,
            cwd=cwd,
            env={**env, "PATH": f"{venv_bin}:{env.get('PATH', os.environ['PATH'])}"},
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            shell=isinstance(command, str),
        )
        STARTED.append(self)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if self.popen.poll() is not None:
                raise AssertionError(
                    f"exited ({self.popen.returncode}) before {text!r}:\n{self.output()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} within {timeout}s:\n{self.output()}")
            time.sleep(0.2)

    def wait_for_url(self, url: str, timeout: float = 60) -> bytes:
        deadline = time.monotonic() + timeout
        while True:
            if self.popen.poll() is not None:
                raise AssertionError(f"exited ({self.popen.returncode}):\n{self.output()}")
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    return response.read()
            # TimeoutError: accepted but not answering yet (workers still booting on a busy box).
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"{url} did not answer within {timeout}s:\n{self.output()}"
                    ) from None
                time.sleep(0.3)

    def interrupt(self, timeout: float = 30) -> int:
        """Ctrl-C, as a terminal sends it: SIGINT to the whole process group."""
        return self._signal_group(signal.SIGINT, timeout)

    def stop(self, timeout: float = 30) -> int:
        return self._signal_group(signal.SIGTERM, timeout)

    def kill(self) -> int:
        """SIGKILL to every process of the group: no cleanup, no goodbye."""
        return self._signal_group(signal.SIGKILL, 10)

    def _signal_group(self, signum: int, timeout: float) -> int:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signum)
            try:
                return self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)
                raise AssertionError(f"did not stop within {timeout}s:\n{self.output()}") from None
        return self.popen.returncode


def pids_with_environment(name: str, value: str) -> list[int]:
    """Processes whose environment holds ``name=value``: how a test finds what it started."""
    wanted = f"{name}={value}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if wanted in (proc / "environ").read_bytes().split(b"\0"):
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def wait_until_gone(name: str, value: str, timeout: float = 20) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := pids_with_environment(name, value)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left
