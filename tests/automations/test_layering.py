"""Automations plug into subscribers through a signal and into delivery through its public
functions: subscribers, campaigns and delivery never import automations."""

from pathlib import Path

import pytest

from tests.tracking.test_layering import imported_modules

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("app", ["campaigns", "subscribers", "delivery", "tracking"])
def test_the_apps_automations_use_never_import_it(app):
    offenders = {
        str(path.relative_to(ROOT)): sorted(module)
        for path in (ROOT / app).rglob("*.py")
        if (
            module := {
                name for name in imported_modules(path) if name.split(".")[0] == "automations"
            }
        )
    }
    assert list((ROOT / app).rglob("*.py"))
    assert offenders == {}
