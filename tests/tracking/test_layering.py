import ast
from pathlib import Path

CAMPAIGNS = Path(__file__).resolve().parents[2] / "campaigns"


def imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def test_campaigns_never_imports_tracking_or_delivery():
    """What is sent knows nothing of how it leaves or what happens to it after."""
    offenders = {
        str(path.relative_to(CAMPAIGNS)): sorted(module)
        for path in CAMPAIGNS.rglob("*.py")
        if (
            module := {
                name
                for name in imported_modules(path)
                if name.split(".")[0] in ("tracking", "delivery")
            }
        )
    }
    assert list(CAMPAIGNS.rglob("*.py"))
    assert offenders == {}
