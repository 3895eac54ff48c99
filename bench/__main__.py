import importlib
import json
import pkgutil
import subprocess
import sys
from pathlib import Path


def benchmarks() -> dict[str, object]:
    """Every module of this package that declares a ``NAME`` and a ``run()``."""
    found = {}
    for module_info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        module = importlib.import_module(f"bench.{module_info.name}")
        if hasattr(module, "NAME") and hasattr(module, "run"):
            found[module.NAME] = module
    return found


def main(names: list[str]) -> int:
    available = benchmarks()
    unknown = [name for name in names if name not in available]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(available)}")
        return 2
    names = names or sorted(available)
    if len(names) > 1:
        # Each benchmark configures Django for its own database: one process each.
        failed = [
            name
            for name in names
            if subprocess.run([sys.executable, "-m", "bench", name]).returncode
        ]
        return 1 if failed else 0
    for name in names:
        result = available[name].run()
        width = max(len(key) for key in result)
        for key, value in result.items():
            print(f"  {key:<{width}}  {value}")
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
