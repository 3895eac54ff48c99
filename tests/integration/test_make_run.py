"""`make run` on its own: no PostgreSQL, no Redis, a real worker and beat, Ctrl-C stops all."""

import os
import re

import pytest

from tests.conftest import free_port
from tests.integration.processes import Process, wait_until_gone

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def embedded_env(var_dir) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "SECRET_KEY"}
        and not key.startswith(("PYTEST", "DJANGO_ALLOW"))
    }
    return {**env, "CRIER_VAR_DIR": str(var_dir)}


def start_make_run(env, port, log) -> Process:
    process = Process(["make", "run", f"PORT={port}"], env, log)
    process.wait_for_url(f"http://127.0.0.1:{port}/healthz", timeout=120)
    return process


def log_in(page, base_url: str, password: str) -> None:
    page.goto(f"{base_url}/dashboard/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Newsletters").wait_for()


def test_make_run_serves_the_demo_with_a_worker_and_stops_on_ctrl_c(tmp_path, page):
    var_dir = tmp_path / "var"
    env = embedded_env(var_dir)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"

    first = start_make_run(env, port, tmp_path / "first.log")
    try:
        health = first.wait_for_url(f"{base_url}/healthz")
        assert health == b'{"status": "ok", "db": "ok", "redis": "not used", "broker": "ok"}'
        password = re.search(r"as admin / (\S+)", first.output()).group(1)
        first.wait_for_output("embedded@")
        first.wait_for_output("beat: Starting")

        log_in(page, base_url, password)
        page.get_by_role("link", name="Demo Project News").click()
        page.get_by_role("heading", name="Recent campaigns").wait_for()

        page.get_by_role("link", name="Outbox").click()
        page.get_by_label("Send a test message to").fill("ops@example.org")
        page.get_by_role("button", name="Send test message").click()
        page.get_by_text("Test message queued").wait_for()
        # The worker sends it through the filesystem broker; htmx refreshes the table.
        page.get_by_role("link", name="Crier test message").click()
        frame = page.frame_locator("iframe.mail-preview")
        frame.get_by_text("requested by admin").wait_for()
        assert "sent by a Celery worker" in page.locator("pre.mail-text").inner_text()
    finally:
        first.interrupt()
    assert wait_until_gone("CRIER_VAR_DIR", str(var_dir)) == []
    assert (var_dir / "crier.sqlite3").exists()

    second = start_make_run(env, port, tmp_path / "second.log")
    try:
        assert "the password printed when it was created" in second.output()
        page.context.clear_cookies()
        log_in(page, base_url, password)
        page.get_by_role("link", name="Outbox").click()
        page.get_by_role("link", name="Crier test message").wait_for()
    finally:
        second.interrupt()
    assert wait_until_gone("CRIER_VAR_DIR", str(var_dir)) == []
