"""Daemon: the process that wires storage, reload, scheduler and workers together."""
