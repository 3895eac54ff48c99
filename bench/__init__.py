"""Benchmarks: one module per benchmark, each with ``NAME`` and ``run() -> dict``.

``python -m bench [NAME ...]`` (``make bench [ONLY=NAME]``) runs them and prints a
table, then one JSON line per benchmark (the contract's format).
"""
