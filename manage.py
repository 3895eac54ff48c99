#!/usr/bin/env python3
"""Django's command line. Run from the checkout with no environment set, a command acts
on the data of ``make run``: the embedded servers are started for it when they are not
running (``newsletter.embedded``)."""

import os
import sys
from contextlib import nullcontext
from pathlib import Path

VENV = Path(__file__).resolve().parent / ".venv"


def _use_the_virtualenv() -> None:
    """``python manage.py`` with an interpreter that lacks Django: re-run in ``.venv``."""
    try:
        import django  # noqa: F401
    except ImportError:
        python = VENV / "bin" / "python"
        if python.exists() and Path(sys.prefix).resolve() != VENV.resolve():
            os.execv(python, [str(python), __file__, *sys.argv[1:]])  # noqa: S606
        sys.exit("Crier's dependencies are not installed: run `make run` or `make install-run`.")


def main() -> None:
    _use_the_virtualenv()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "newsletter.settings")
    from django.conf import settings
    from django.core.management import execute_from_command_line

    from newsletter import embedded

    servers = getattr(settings, "EMBEDDED_SERVERS", None)
    try:
        with (
            embedded.in_use(servers)
            if servers and embedded.command_needs_servers(sys.argv)
            else nullcontext()
        ):
            execute_from_command_line(sys.argv)
    except embedded.EmbeddedError as error:
        sys.exit(f"Crier's embedded servers: {error}")


if __name__ == "__main__":
    main()
