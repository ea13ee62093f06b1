"""Celery's side: `celery -A celery_app worker` runs `noop` from a Redis broker."""

from __future__ import annotations

import os

import tally
from celery import Celery

app = Celery("bench", broker=os.environ["BENCH_URL"])
app.conf.task_ignore_result = True  # no result backend: the others store no result either
app.conf.task_default_queue = "bench"


@app.task
def noop() -> None:
    tally.done()


def enqueue() -> None:
    noop.delay()
