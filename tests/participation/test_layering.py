"""Participation plugs into campaigns and subscribers through their registries: neither
imports it (nor does delivery, which fills its slots through campaigns.extensions)."""

from pathlib import Path

import pytest

from tests.tracking.test_layering import imported_modules

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("app", ["campaigns", "subscribers", "delivery", "tracking"])
def test_the_apps_participation_plugs_into_never_import_it(app):
    offenders = {
        str(path.relative_to(ROOT)): sorted(module)
        for path in (ROOT / app).rglob("*.py")
        if (
            module := {
                name for name in imported_modules(path) if name.split(".")[0] == "participation"
            }
        )
    }
    assert list((ROOT / app).rglob("*.py"))
    assert offenders == {}
