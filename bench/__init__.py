"""Benchmarks: scripts that print tables (run them as ``python bench/<name>.py``)."""
