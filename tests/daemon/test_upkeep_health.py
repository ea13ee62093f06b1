"""The daemon's chores (daemon/upkeep.py).

Health is what the storage answers: a chore with nothing to do (no job held, so no pause
to read; no alert that wants a look) proves nothing, and must not call a storage that every
other chore finds unreachable healthy again (it did: the status flapped back to healthy)."""

from __future__ import annotations

import time

from servers import free_port

from jobrunner.alerts.deliver import Alerter
from jobrunner.config.model import Handler, Policy, Source
from jobrunner.daemon.upkeep import Upkeep
from jobrunner.job import Job, State, new_id
from jobrunner.reload.in_force import InForce
from jobrunner.storage import Storage, open_storage
from jobrunner.worker.lane import Lane


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


def test_reclaim_applies_the_redelivery_policy_of_the_lanes_in_force_after_a_reload(
    store: Storage,
) -> None:
    """Upkeep keeps the lanes' redelivery policies until the lanes change: a reload that
    lowers `max_deliveries` applies to the next expired lease (a stale copy would not)."""

    def lanes(max_deliveries: int) -> dict[str, Lane]:
        policy = Policy(max_deliveries=max_deliveries)
        return {"q": Lane("q", Handler("python", {}), policy, Source("jobs.yaml", 1, ()))}

    in_force = InForce(lanes=lanes(5))
    upkeep = Upkeep(store, "d1", 30.0, in_force, dict, buries_orphans=False)
    job = Job(new_id(), "q", {})
    store.enqueue(job)
    for max_deliveries, state in ((5, State.QUEUED), (2, State.DEAD)):
        in_force.lanes = lanes(max_deliveries)  # a reload replaces the lanes whole
        assert store.lease("q", "gone", count=1, lease_for=0.05)
        time.sleep(0.1)
        upkeep.reclaim()
        record = store.record(job.id)
        assert record is not None and record.state is state, (max_deliveries, record)
