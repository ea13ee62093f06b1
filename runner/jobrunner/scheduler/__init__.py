"""Scheduler: cron ticks in, jobs out, each tick once however many schedulers run."""
