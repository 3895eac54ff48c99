"""What ``make run`` runs: migrate and seed the embedded database, then serve the site
with a Celery worker and beat until Ctrl-C.

``manage.py`` has started the embedded PostgreSQL and Redis for this command, and
stops them when it ends (``newsletter.embedded``): after honcho has stopped the web
server, the worker and beat, so none of them loses its database mid-task.
"""

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Serve Crier on the embedded servers with a Celery worker and beat (make run)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, host: str, port: int, **options) -> None:
        if not settings.EMBEDDED:
            raise CommandError("DATABASE_URL and REDIS_URL are set: this runs the embedded mode.")
        call_command("migrate", interactive=False, verbosity=1)
        call_command("seed_demo")
        self.stdout.write(
            f"Serving http://{host}:{port}/dashboard/ with a Celery worker and beat; "
            "Ctrl-C stops all.",
            style_func=self.style.SUCCESS,
        )
        self.stdout.flush()
        returncode = self._serve(host, port)
        if returncode not in (0, -2, 130):
            raise CommandError(f"web, worker or beat stopped (honcho exited {returncode}).")

    def _serve(self, host: str, port: int) -> int:
        bin_dir = Path(sys.executable).parent
        procfile = settings.BASE_DIR / "Procfile.embedded"
        honcho = subprocess.Popen(  # noqa: S603 (our own paths, no shell)
            [bin_dir / "honcho", "--no-prefix", "-f", procfile, "start"],
            cwd=settings.BASE_DIR,
            env={
                **os.environ,
                "HOST": host,
                "PORT": str(port),
                "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            },
        )
        try:
            return honcho.wait()
        except KeyboardInterrupt:
            # The terminal's Ctrl-C reached honcho too: it is stopping its processes.
            return honcho.wait()
        finally:
            if honcho.poll() is None:  # stopped another way (SIGTERM): stop them as well
                honcho.terminate()
                honcho.wait()
