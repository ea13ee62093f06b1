"""The plan: pure comparisons of published views, and what applying one does to a real runtime.

The algebra: `plan(c, c)` is empty; `plan(None, c)` adds everything; and
applying `plan(a, b)` to a runtime (a real pool of Huey lanes and a real
scheduler, on SQLite) that serves `a` leaves it serving exactly `b`: the
lanes at their concurrency, the cron entries with their new settings, and
the state (last tick, next fire time) of every entry whose schedule did not
change.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobrunner.config import Options, assemble
from jobrunner.config.model import Config
from jobrunner.registry import discover
from jobrunner.reload import publish
from jobrunner.reload.apply import Runtime, apply
from jobrunner.reload.plan import lanes, plan
from jobrunner.scheduler.loop import Scheduler
from jobrunner.storage import Storage, open_storage
from jobrunner.worker.attempt import Plugins
from jobrunner.worker.lane import lanes as lanes_of
from jobrunner.worker.pool import Pool

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
REGISTRY = discover()
QUEUES = ("alpha", "beta", "gamma")
CRONS = ("tick", "tock", "own")

queue_settings = st.fixed_dictionaries(
    {
        "concurrency": st.integers(1, 3),
        "callable": st.sampled_from(["jobapp:record", "jobapp:flaky"]),
    }
)
cron_settings = st.fixed_dictionaries(
    {
        "every": st.sampled_from(["10s", "1m", "5m"]),
        "target": st.sampled_from(["queue", "handler"]),
        "overlap": st.sampled_from(["allow", "forbid"]),
    }
)
configs = st.tuples(
    st.dictionaries(st.sampled_from(QUEUES), queue_settings, max_size=3),
    st.dictionaries(st.sampled_from(CRONS), cron_settings, max_size=3),
)


def build(spec: tuple[dict[str, dict[str, object]], dict[str, dict[str, object]]]) -> Config:
    """A configuration of queues and cron entries (a cron's queue target: the first queue)."""
    queues, crons = spec
    lines = ["version: 1"]
    if queues:
        lines.append("queues:")
        for name, q in sorted(queues.items()):
            lines.append(
                f"  {name}: {{handler: python, params: {{callable: '{q['callable']}'}}, "
                f"concurrency: {q['concurrency']}}}"
            )
    if crons:
        lines.append("cron:")
        for name, c in sorted(crons.items()):
            target = (
                f"queue: {min(queues)}"
                if c["target"] == "queue" and queues
                else "handler: python, params: {callable: 'jobapp:record'}"
            )
            lines.append(f"  {name}: {{every: {c['every']}, overlap: {c['overlap']}, {target}}}")
    loaded = assemble(
        {"jobs.yaml": "\n".join(lines).encode() + b"\n"}, Options(), now=T0, registry=REGISTRY
    )
    assert not loaded.failed, [str(p) for p in loaded.problems]  # warnings (pile-ups) are fine
    return loaded.config


# -- pure ---------------------------------------------------------------------------------


@given(configs)
def test_a_configuration_against_itself_plans_nothing(spec: tuple) -> None:  # type: ignore[type-arg]
    view = publish.view(build(spec), 1)
    change = plan(view, view)
    assert not change and str(change) == "no changes"
    assert (change.stop_lanes, change.start_lanes, change.replan_crons) == (set(), set(), set())


@given(configs)
def test_from_nothing_every_entry_and_lane_is_added(spec: tuple) -> None:  # type: ignore[type-arg]
    config = build(spec)
    change = plan(None, publish.view(config, 1))
    assert change.names("queue", "+") == set(config.queues)
    assert change.names("cron", "+") == set(config.crons)
    assert change.start_lanes == set(lanes_of(config)) and not change.stop_lanes


@given(configs, configs)
def test_the_plan_lanes_are_the_difference_of_the_lanes(a: tuple, b: tuple) -> None:  # type: ignore[type-arg]
    before, after = publish.view(build(a), 1), publish.view(build(b), 2)
    change = plan(before, after)
    old, new = lanes(before), lanes(after)
    served = {n: c for n, c in old.items() if n not in change.stop_lanes}
    served.update({n: new[n] for n in change.start_lanes})
    assert served == new
    assert change.start_lanes.isdisjoint(old.keys() & new.keys() - change.stop_lanes)


def test_the_plan_reads_as_a_diff() -> None:
    a = build(({"alpha": {"concurrency": 1, "callable": "jobapp:record"}}, {}))
    b = build(
        (
            {"alpha": {"concurrency": 3, "callable": "jobapp:flaky"}},
            {"tick": {"every": "1m", "target": "queue", "overlap": "allow"}},
        )
    )
    change = plan(publish.view(a, 1), publish.view(b, 2))
    assert str(change).splitlines() == [
        "~ queue alpha: concurrency 1 → 3, params changed",
        "+ cron tick",
    ]
    assert change.stop_lanes == change.start_lanes == {"alpha"}  # restarted at 3


def test_size_limits_change_in_place_and_read_as_sizes() -> None:
    def one(limits: str) -> Config:
        entry = f"{{handler: shell, params: {{command: [/bin/true]}}{limits}}}"
        text = f"version: 1\nqueues:\n  alpha: {entry}\n"
        loaded = assemble({"jobs.yaml": text.encode()}, Options(), now=T0, registry=REGISTRY)
        assert loaded.ok, [str(p) for p in loaded.problems]
        return loaded.config

    before = publish.view(one(""), 1)
    after = publish.view(one(", max_payload: 256KiB, memory_limit: 1.5GiB"), 2)
    change = plan(before, after)
    assert str(change) == "~ queue alpha: max_payload 1 MiB → 256 KiB, memory_limit none → 1536 MiB"
    assert not change.stop_lanes and not change.start_lanes  # the next job reads them
    assert after.queues["alpha"]["max_payload"] == 262_144  # what producers check


def test_a_changed_schedule_replans_and_a_changed_target_does_not() -> None:
    def one(every: str, target: str) -> Config:
        return build(
            (
                {"alpha": {"concurrency": 1, "callable": "jobapp:record"}},
                {"tick": {"every": every, "target": target, "overlap": "allow"}},
            )
        )

    base = publish.view(one("1m", "queue"), 1)
    assert plan(base, publish.view(one("5m", "queue"), 2)).replan_crons == {"tick"}
    own = plan(base, publish.view(one("1m", "handler"), 2))
    assert not own.replan_crons
    assert own.start_lanes == {"tick"}  # it runs in a lane of its own now


# -- applied to a real runtime ------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Storage]:
    path: Path = tmp_path_factory.mktemp("plan") / "state.db"
    store = open_storage(f"sqlite:///{path}")
    yield store
    store.close()


counter = itertools.count()


@pytest.mark.timeout(400)  # about 3 s an example: each one starts and stops real lanes
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(configs, configs, st.integers(0, 600))
def test_applying_the_plan_from_a_to_b_serves_exactly_b(
    storage: Storage,
    a: tuple,  # type: ignore[type-arg]
    b: tuple,  # type: ignore[type-arg]
    later: int,
) -> None:
    old, new = build(a), build(b)
    clock = Clock()
    owner = f"plan-{next(counter)}"
    current = {"lanes": lanes_of(old)}
    pool = Pool(storage, owner, lambda n: current["lanes"].get(n), Plugins(REGISTRY), 30.0)
    runtime = Runtime(pool, Scheduler(storage, owner, clock))
    try:
        apply(plan(None, publish.view(old, 1)), old, lanes_of(old), 1, runtime)
        assert runtime.scheduler is not None
        runtime.scheduler.step()  # every entry gets its next fire time
        before = dict(runtime.scheduler.entries)
        clock.now = T0 + timedelta(seconds=later)
        change = plan(publish.view(old, 1), publish.view(new, 2))
        current["lanes"] = lanes_of(new)
        apply(change, new, lanes_of(new), 2, runtime)

        assert pool.served() == {name: lane.concurrency for name, lane in lanes_of(new).items()}
        entries = runtime.scheduler.entries
        assert set(entries) == set(new.crons)
        for name, entry in entries.items():
            assert entry.cron == new.crons[name]
            if name in before and name not in change.replan_crons:
                kept = before[name]
                assert (entry.last, entry.armed, entry.next) == (kept.last, kept.armed, kept.next)
            else:  # new or re-planned: taken on from now
                assert entry.armed == clock.now and entry.next is None
        assert runtime.scheduler.generation == 2
    finally:
        pool.stop_all()
        for thread in pool.threads():
            thread.join(5)
