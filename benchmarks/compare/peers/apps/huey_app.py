"""Huey's side: `huey_consumer huey_app.huey` runs `noop` from a RedisHuey."""

from __future__ import annotations

import os

import tally
from huey import RedisHuey

huey = RedisHuey("bench", url=os.environ["BENCH_URL"])


@huey.task()
def noop() -> None:
    tally.done()


def enqueue() -> None:
    noop()
