"""Crier's benchmarks: ``python -m bench [NAME]`` (``make bench [ONLY=NAME]``).

Each benchmark is a module here with ``run() -> dict``; the runner prints the
module's own table, then the result as one JSON line, last (docs/benchmarks.md).
"""
