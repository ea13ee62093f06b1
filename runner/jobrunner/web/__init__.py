"""The HTTP side of a daemon: health, readiness and Prometheus metrics.

Served by the `web` role, or by any role with `--http ADDR`, inside the daemon
process: it shares the daemon's storage, configuration in force and lifecycle
(`server.py`). Nothing below imports it; `cli/run.py` hands it to the daemon.
"""
