"""Health is what the storage answers: a chore with nothing to do (no job held, so no pause
to read; no alert that wants a look) proves nothing, and must not call a storage that every
other chore finds unreachable healthy again (it did: the status flapped back to healthy)."""

from __future__ import annotations

import time

from servers import free_port

from jobrunner.alerts.deliver import Alerter
from jobrunner.daemon.upkeep import Upkeep
from jobrunner.reload.in_force import InForce
from jobrunner.storage import open_storage


def test_a_storage_that_answers_nothing_stays_unhealthy_through_idle_chores() -> None:
    storage = open_storage(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    in_force = InForce()
    upkeep = Upkeep(
        storage,
        "d1",
        0.6,  # a beat every 0.2 s
        in_force,
        dict,
        buries_orphans=True,
        hold=lambda paused, read_at: None,
        holding=list,  # it holds no job: the pause look has nothing to do
        alert=Alerter(storage, lambda: in_force.config),  # no alert wants a look
    )
    seen = []
    until = time.monotonic() + 1.5
    while time.monotonic() < until:
        upkeep.tick()
        seen.append(upkeep.healthy)
        time.sleep(0.05)
    storage.close()
    assert seen and not any(seen[1:]), "a chore that did nothing called the storage healthy"
    assert upkeep.unhealthy_since is not None
