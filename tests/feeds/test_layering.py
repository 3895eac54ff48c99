"""Feeds sit on top: they call campaigns and the sending engine, and none of the apps
below them imports feeds (an issue is a campaign like any other)."""

from pathlib import Path

import pytest

from tests.tracking.test_layering import imported_modules

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("app", ["campaigns", "subscribers", "delivery", "tracking", "webhooks"])
def test_the_apps_below_feeds_never_import_it(app):
    offenders = {
        str(path.relative_to(ROOT)): sorted(module)
        for path in (ROOT / app).rglob("*.py")
        if (module := {name for name in imported_modules(path) if name.split(".")[0] == "feeds"})
    }
    assert list((ROOT / app).rglob("*.py"))
    assert offenders == {}
