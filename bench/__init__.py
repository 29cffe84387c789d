"""The platform benchmark: a million tickets in PostgreSQL, the real server, measured figures.

Run it with `python -m bench.platform` (see bench/README.md).
"""
