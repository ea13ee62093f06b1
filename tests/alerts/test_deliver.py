"""Delivering alerts on real storage (SQLite and Redis): once per event across daemons,
throttled with a count, never into the alert's own queue, never raising."""

from __future__ import annotations

import json
import logging
import time
from datetime import timedelta
from types import MappingProxyType
from typing import Any

import pytest

from jobrunner.alerts import event
from jobrunner.alerts.deliver import Alerter
from jobrunner.alerts.survey import Survey
from jobrunner.config.model import Alert, Config, Handler, Queue, Source
from jobrunner.job import Job, Record, State
from jobrunner.storage import Storage, StorageError

SOURCE = Source("alerts.yaml", 1, ("alerts", "x"))
NOTIFY = Queue("notify", Handler("shell"), SOURCE)


def config(*alerts: Alert) -> Config:
    return Config(
        queues=MappingProxyType({"notify": NOTIFY}),
        alerts=MappingProxyType({a.name: a for a in alerts}),
    )


def on_call(throttle: float = 0, *events: str) -> Alert:
    chosen = events or ("job.dead", "daemon.lost")
    return Alert("on-call", chosen, "notify", SOURCE, throttle=timedelta(seconds=throttle))


def dead(job_id: str, queue: str = "billing") -> event.Event:
    record = Record(Job(job_id, queue, {}), State.DEAD, reason="permanent")
    return event.job_dead(record, event.PERMANENT, time.time())


def alert_jobs(store: Storage) -> list[dict[str, Any]]:
    leases = store.lease("notify", "test", count=100, lease_for=60)
    return [json.loads(lease.raw)["payload"] for lease in leases]


def test_daemons_seeing_one_event_deliver_it_once(store: Storage) -> None:
    current = config(on_call())
    first, second = Alerter(store, lambda: current), Alerter(store, lambda: current)
    first(dead("j1"))
    second(dead("j1"))
    first(dead("j1"))
    second(dead("j2"))
    delivered = alert_jobs(store)
    assert sorted(p["details"]["job"] for p in delivered) == ["j1", "j2"]
    assert {p["alert"] for p in delivered} == {"on-call"}


def test_the_throttle_holds_back_and_counts_and_the_next_alert_says_how_many(
    store: Storage,
) -> None:
    current = config(on_call(throttle=1))
    alerter = Alerter(store, lambda: current)
    for job_id in ("j1", "j2", "j3"):
        alerter(dead(job_id))
    alerter(dead("j4", queue="payouts"))  # another subject: its own throttle
    assert [(p["details"]["job"], p["suppressed"]) for p in alert_jobs(store)] == [
        ("j1", 0),
        ("j4", 0),
    ]
    time.sleep(1.2)
    alerter(dead("j5"))
    assert [(p["details"]["job"], p["suppressed"]) for p in alert_jobs(store)] == [("j5", 2)]


def test_a_dead_alert_job_is_logged_not_alerted(
    store: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    current = config(on_call())
    with caplog.at_level(logging.WARNING, logger="jobrunner"):
        Alerter(store, lambda: current)(dead("a1", queue="notify"))
    assert alert_jobs(store) == []
    assert "about the alert's own queue" in caplog.text


def test_a_sick_storage_loses_the_alert_not_the_caller(
    store: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    class Sick:
        def __getattr__(self, name: str) -> Any:
            def fail(*args: Any, **kwargs: Any) -> Any:
                raise StorageError("connection refused")

            return fail

    current = config(on_call())
    with caplog.at_level(logging.ERROR, logger="jobrunner"):
        Alerter(Sick(), lambda: current)(dead("j1"))
    assert "alert not delivered" in caplog.text


def test_a_daemon_that_leaves_is_not_lost_and_one_that_stops_beating_is_once(
    store: Storage,
) -> None:
    current = config(on_call())
    watchers = [Survey(store, Alerter(store, lambda: current), f"w{n}") for n in (1, 2)]
    store.beat("polite", {"host": "h1", "seen": 1.0}, ttl=60)
    store.beat("killed", {"host": "h2", "pid": 42, "seen": 2.0}, ttl=0.5)
    for watcher in watchers:
        watcher.daemons()
    Survey(store, Alerter(store, lambda: current), "polite").leaving()
    store.leave("polite")
    time.sleep(0.7)
    for watcher in watchers:
        watcher.daemons()
    delivered = alert_jobs(store)
    assert [(p["event"], p["subject"]) for p in delivered] == [("daemon.lost", "killed")]
    assert delivered[0]["details"]["host"] == "h2"
    assert delivered[0]["details"]["pid"] == 42


def test_a_queue_whose_oldest_ready_job_waited_past_the_threshold_alerts_once(
    store: Storage,
) -> None:
    backlog = Alert(
        "backlog",
        ("queue.backlog",),
        "notify",
        SOURCE,
        queues=frozenset({"billing"}),
        backlog_age=timedelta(seconds=60),
    )
    current = config(backlog)
    for queue in ("billing", "payouts"):
        store.enqueue(Job(f"{queue}-1", queue, {}, created=time.time()))
    early = Survey(store, Alerter(store, lambda: current), "w1")
    early.backlog()  # the job waits, but not for a minute yet
    assert alert_jobs(store) == []
    late = [
        Survey(store, Alerter(store, lambda: current), f"w{n}", clock=lambda: time.time() + 120)
        for n in (1, 2)
    ]
    for survey in late:
        survey.backlog()
    [delivered] = alert_jobs(store)
    assert (delivered["event"], delivered["subject"]) == ("queue.backlog", "billing")
    assert delivered["details"]["ready"] == 1
    assert delivered["details"]["age"] >= 119
    assert delivered["details"]["threshold"] == 60.0
