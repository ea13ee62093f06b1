"""When `--processes auto` wants its worker processes (daemon/demand.py): the decision
alone, over the two counters it reads from the feeder (the integration is in
test_processes.py)."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest

from jobrunner.daemon import demand
from jobrunner.daemon.demand import Saturation


def saturation() -> tuple[Saturation, Any]:
    feeder = SimpleNamespace(pressed=float("-inf"), finished_jobs=0)
    return Saturation(SimpleNamespace(feeder=feeder)), feeder  # type: ignore[arg-type]


def test_a_pressure_signal_of_the_start_up_is_not_lost_to_the_restart() -> None:
    """A daemon that starts into a backlog leases from it before it is ready; `restart`
    (at ready) must not make the workers wait for the next signal, a second later."""
    counter, feeder = saturation()
    feeder.pressed = time.monotonic()  # the first lease, before ready
    counter.restart()
    assert counter.look()
    assert not counter.look()  # looked at: the same signal does not count twice


def test_a_new_pressure_signal_counts_at_once_and_quiet_is_no_pressure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(demand, "LOOK_EVERY", 3600.0)  # no look at the CPU in this test
    counter, feeder = saturation()
    counter.restart()
    assert not counter.look()
    feeder.pressed = time.monotonic()
    assert counter.look()
    assert not counter.look()
