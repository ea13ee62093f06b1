"""Dramatiq's side: `dramatiq dramatiq_app` runs `noop` from a RedisBroker."""

from __future__ import annotations

import os

import dramatiq
import tally
from dramatiq.brokers.redis import RedisBroker

dramatiq.set_broker(RedisBroker(url=os.environ["BENCH_URL"]))


@dramatiq.actor(queue_name="bench")
def noop() -> None:
    tally.done()


def enqueue() -> None:
    noop.send()
