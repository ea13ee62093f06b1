"""The pure half of alerts: events, routing, keys, payloads, the loop guard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from jobrunner.alerts import event, route
from jobrunner.config.model import Alert, Source
from jobrunner.job import Attempt, Job, Record, State
from jobrunner.problem import Problem, Severity

SOURCE = Source("alerts.yaml", 5, ("alerts", "on-call"))


def alert(name: str = "on-call", *events: str, **kw: object) -> Alert:
    return Alert(name, events or ("job.dead",), kw.pop("queue", "notify"), SOURCE, **kw)  # type: ignore[arg-type]


def dead(queue: str = "billing", job_id: str = "j1", attempt: int = 3) -> event.Event:
    tries = tuple(
        Attempt(n, 10.0, 11.0, "failed", "d1", "ValueError", f"bad {n}") for n in (1, 2, 3)
    )
    job = Job(job_id, queue, {"x": 1}, attempt=attempt, trace_id="t")
    record = Record(job, State.DEAD, tries[:attempt], reason="failed all 3 attempts: ValueError")
    return event.job_dead(record, event.RETRIES, 100.0)


def test_job_dead_names_the_job_and_attempt_and_says_why() -> None:
    found = dead()
    assert found.identity == "job.dead:j1:3"
    assert found.subject == found.queue == "billing"
    assert found.details["cause"] == "retries"
    assert found.details["attempts"] == 3
    assert (found.details["error_type"], found.details["error"]) == ("ValueError", "bad 3")
    assert found.summary == (
        "job j1 of queue billing is dead after 3 attempts (retries): ValueError: bad 3"
    )


def test_an_alert_takes_the_events_it_lists_narrowed_by_its_queues() -> None:
    everything = alert("all", "job.dead")
    payouts = alert("payouts", "job.dead", queues=frozenset({"payouts"}))
    ticks = alert("ticks", "tick.missed")
    routed = route.route([ticks, payouts, everything], dead("billing"))
    assert routed == [route.Delivery(everything, dead("billing"))]
    assert [d.alert.name for d in route.route([payouts, everything], dead("payouts"))] == [
        "all",
        "payouts",
    ]


def test_the_queues_filter_leaves_events_about_no_queue_alone() -> None:
    lost = event.daemon_lost("h-1-aa", {"host": "h"}, 5.0)
    narrow = alert("x", "daemon.lost", "job.dead", queues=frozenset({"payouts"}))
    assert [d.alert for d in route.route([narrow], lost)] == [narrow]


def test_an_event_about_the_alerts_own_queue_is_looped_not_delivered() -> None:
    own = alert("on-call", "job.dead", queue="notify")
    other = alert("pager", "job.dead", queue="pager")
    routed = route.route([own, other], dead("notify"))
    assert routed == [route.Looped(own, dead("notify")), route.Delivery(other, dead("notify"))]


def test_backlog_is_routed_past_each_alerts_own_threshold() -> None:
    short = alert("short", "queue.backlog", backlog_age=timedelta(minutes=1))
    long = alert("long", "queue.backlog", backlog_age=timedelta(minutes=10))
    waiting = event.queue_backlog("billing", oldest_ready=1000.0, ready=7, at=1000.0 + 120)
    assert [d.alert.name for d in route.route([short, long], waiting)] == ["short"]
    assert waiting.identity == "queue.backlog:billing:1000.000"
    body = route.payload(short, waiting)
    assert body["details"] == {
        "queue": "billing",
        "ready": 7,
        "oldest_ready": 1000.0,
        "age": 120.0,
        "threshold": 60.0,
    }


def test_keys_name_the_occurrence_and_the_throttle_names_kind_and_subject() -> None:
    on_call = alert()
    first, retried = dead(job_id="j1", attempt=3), dead(job_id="j1", attempt=2)
    assert route.claim_key(on_call, first) == "alert:on-call:job.dead:j1:3"
    assert route.claim_key(on_call, first) != route.claim_key(on_call, retried)
    assert route.claim_key(on_call, first) != route.claim_key(alert("pager"), first)
    other_job = dead(job_id="j2")
    assert route.throttle_key(on_call, first) == route.throttle_key(on_call, other_job)
    assert route.throttle_key(on_call, first) == "alert-throttle:on-call:job.dead:billing"
    assert route.throttle_key(on_call, first) != route.throttle_key(on_call, dead("payouts"))


def test_every_observer_builds_the_same_identity() -> None:
    tick = datetime(2026, 12, 1, 9, tzinfo=UTC)
    assert (
        event.tick_missed("nightly", tick, 3, 1.0, "down").identity
        == event.tick_missed("nightly", tick, 3, 99.0, "down").identity
    )
    assert event.tick_skipped("nightly", tick, "j0", 1.0).identity == (
        f"tick.skipped:nightly:{tick.timestamp():.3f}"
    )
    assert event.daemon_lost("h-1", {}, 1.0).identity == event.daemon_lost("h-1", {}, 2.0).identity
    problem = Problem("a.yaml", 3, 5, "queues.x", Severity.ERROR, "type", "expected a mapping")
    one = event.reload_refused({"a.yaml": b"x"}, [problem], 1.0, refused=True)
    two = event.reload_refused({"a.yaml": b"x"}, [problem], 2.0, refused=True)
    changed = event.reload_refused({"a.yaml": b"y"}, [problem], 2.0, refused=True)
    assert one.identity == two.identity != changed.identity
    assert one.details["problems"] == ["a.yaml:3:5: expected a mapping"]
    assert one.details["files"] == ["a.yaml"]


def test_the_payload_is_the_documented_one() -> None:
    body = route.payload(alert(), dead(), suppressed=4)
    assert set(body) == {"alert", "event", "subject", "at", "summary", "details", "suppressed"}
    assert (body["alert"], body["event"], body["subject"], body["at"]) == (
        "on-call",
        "job.dead",
        "billing",
        100.0,
    )
    assert body["suppressed"] == 4
    assert set(body["details"]) == {
        "queue",
        "job",
        "cause",
        "attempts",
        "error_type",
        "error",
        "reason",
        "cron",
        "trace",
    }
