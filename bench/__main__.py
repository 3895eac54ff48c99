import importlib
import json
import sys

BENCHMARKS = ["render", "send"]


def main(argv: list[str]) -> int:
    names = argv or BENCHMARKS
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark {', '.join(unknown)}; available: {', '.join(BENCHMARKS)}")
        return 2
    for name in names:
        result = importlib.import_module(f"bench.{name}").run()
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
