"""Benchmarks: scripts to run as files, and `python -m benchmarks compare`."""
