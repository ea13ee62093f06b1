"""Pins `worker.retry`: backoff arithmetic, its cap and jitter, and the retry verdicts.

Every expected delay is worked out by hand from the module's documented rule:
`delay` (fixed) or `delay * 2^(n-1)` (exponential) after the n-th attempt,
capped by `max_delay`, plus `jitter * rand` of that capped delay. `rand` is the
caller's uniform draw in [0, 1), passed in, so values are checked exactly: the
rands used below (0, 0.25, 0.5, 0.75) and the delays are exact binary floats.
"""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobrunner.config.model import RetryPolicy
from jobrunner.worker.retry import Decision, Status, Verdict, backoff, decide


def policy(
    *,
    attempts: int = 5,
    kind: str = "exponential",
    delay: float = 1.0,
    max_delay: float = 300.0,
    jitter: float = 0.0,
) -> RetryPolicy:
    return RetryPolicy(
        attempts=attempts,
        backoff=kind,
        delay=timedelta(seconds=delay),
        max_delay=timedelta(seconds=max_delay),
        jitter=jitter,
    )


# -- backoff -------------------------------------------------------------------


def test_the_defaults_are_five_attempts_exponential_from_one_second_to_five_minutes() -> None:
    assert RetryPolicy() == policy(attempts=5, delay=1, max_delay=300, jitter=0.5)


def test_fixed_backoff_waits_the_same_delay_after_every_attempt() -> None:
    fixed = policy(kind="fixed", delay=7)
    assert [backoff(fixed, n, 0.0) for n in (1, 2, 3, 10, 100)] == [7.0] * 5


def test_exponential_backoff_doubles_after_each_attempt() -> None:
    # 3 * 2^0, 3 * 2^1, 3 * 2^2, 3 * 2^3, 3 * 2^4
    exp = policy(delay=3, max_delay=3600)
    assert [backoff(exp, n, 0.0) for n in (1, 2, 3, 4, 5)] == [3.0, 6.0, 12.0, 24.0, 48.0]


def test_exponential_backoff_stops_at_max_delay() -> None:
    # 1 * 2^8 = 256 is under 300; 2^9 = 512 is not, and neither is anything after it.
    exp = policy(delay=1, max_delay=300)
    assert backoff(exp, 9, 0.0) == 256.0
    assert [backoff(exp, n, 0.0) for n in (10, 11, 50)] == [300.0] * 3


def test_a_huge_attempt_number_is_capped_not_an_overflow() -> None:
    assert backoff(policy(delay=1, max_delay=300), 10_000, 0.0) == 300.0
    assert backoff(policy(delay=1, max_delay=300, jitter=0.5), 10**9, 0.5) == 375.0


def test_a_delay_above_max_delay_waits_max_delay_even_the_first_time() -> None:
    assert backoff(policy(kind="fixed", delay=600, max_delay=300), 1, 0.0) == 300.0
    assert backoff(policy(delay=600, max_delay=300), 1, 0.0) == 300.0


def test_jitter_adds_its_fraction_of_the_delay_times_rand() -> None:
    # after attempt 3 the delay is 4 s; jitter 0.5 adds up to 2 s: rand 0.25 -> 0.5 s
    exp = policy(delay=1, jitter=0.5)
    assert backoff(exp, 3, 0.0) == 4.0
    assert backoff(exp, 3, 0.25) == 4.5
    assert backoff(exp, 3, 0.5) == 5.0
    assert backoff(exp, 3, 0.75) == 5.5


def test_jitter_is_a_fraction_of_the_capped_delay_so_it_may_pass_max_delay() -> None:
    # capped at 300 s first, then up to 0.5 * 300 s more: rand 0.5 -> 75 s more
    exp = policy(delay=1, max_delay=300, jitter=0.5)
    assert backoff(exp, 20, 0.5) == 375.0


def test_no_jitter_ignores_rand() -> None:
    exp = policy(delay=2, jitter=0.0)
    assert {backoff(exp, 2, r) for r in (0.0, 0.5, 0.999999)} == {4.0}


def test_a_seeded_random_source_gives_a_reproducible_exact_delay() -> None:
    # Worker._settle passes `random.Random().random()`; with a seed the draw is known.
    draw = random.Random(1234).random()
    assert draw == 0.9664535356921388  # CPython's Mersenne Twister, stable across versions
    # 4 s after attempt 2, plus 0.5 * 4 s * 0.9664535356921388 = 1.9329070713842776 s
    assert backoff(policy(delay=2, jitter=0.5), 2, draw) == 5.932907071384277


# -- backoff: properties --------------------------------------------------------

policies = st.builds(
    policy,
    kind=st.sampled_from(["fixed", "exponential"]),
    delay=st.integers(1, 3_600_000_000).map(lambda us: us / 1_000_000),
    max_delay=st.integers(1, 86_400_000_000).map(lambda us: us / 1_000_000),
    jitter=st.floats(0.0, 1.0),
)
rands = st.floats(0.0, 1.0, exclude_max=True)


def documented_base(p: RetryPolicy, attempt: int) -> float:
    """`delay` or `delay * 2^(n-1)`, capped by `max_delay`: the rule the docstring states."""
    delay = p.delay.total_seconds()
    if p.backoff == "exponential":
        delay *= 2.0 ** (attempt - 1)
    return min(delay, p.max_delay.total_seconds())


@given(policies, st.integers(1, 60), rands)
def test_backoff_lies_between_the_base_delay_and_the_base_plus_its_jitter(
    p: RetryPolicy, attempt: int, rand: float
) -> None:
    base = documented_base(p, attempt)
    got = backoff(p, attempt, rand)
    assert base <= got <= base * (1 + p.jitter) * (1 + 1e-12)


@given(policies, st.integers(1, 10_000), rands)
def test_backoff_never_exceeds_max_delay_plus_its_jitter(
    p: RetryPolicy, attempt: int, rand: float
) -> None:
    cap = p.max_delay.total_seconds()
    assert backoff(p, attempt, rand) <= cap * (1 + p.jitter) * (1 + 1e-12)


@given(policies, st.integers(1, 60), rands)
def test_backoff_without_jitter_never_exceeds_max_delay(
    p: RetryPolicy, attempt: int, rand: float
) -> None:
    flat = policy(
        kind=p.backoff,
        delay=p.delay.total_seconds(),
        max_delay=p.max_delay.total_seconds(),
        jitter=0.0,
    )
    assert backoff(flat, attempt, rand) == documented_base(flat, attempt)
    assert backoff(flat, attempt, rand) <= flat.max_delay.total_seconds()


@given(policies, st.integers(1, 59), rands)
def test_backoff_never_shrinks_from_one_attempt_to_the_next(
    p: RetryPolicy, attempt: int, rand: float
) -> None:
    assert backoff(p, attempt, rand) <= backoff(p, attempt + 1, rand)


# -- decide ---------------------------------------------------------------------


def test_success_is_done_whatever_the_attempt() -> None:
    p = policy(attempts=3)
    assert decide(Status.SUCCEEDED, 1, p, 0.5) == Decision(Verdict.DONE)
    assert decide(Status.SUCCEEDED, 3, p, 0.5) == Decision(Verdict.DONE)


def test_a_permanent_error_is_dead_on_the_first_attempt() -> None:
    assert decide(Status.PERMANENT, 1, policy(attempts=5), 0.5) == Decision(
        Verdict.DEAD, reason="the handler reported a permanent error"
    )


@pytest.mark.parametrize("status", [Status.FAILED, Status.TIMEOUT])
def test_a_failure_before_the_last_attempt_retries_after_the_backoff(status: Status) -> None:
    # after attempt 2 of 5: 1 * 2^1 = 2 s, plus 0.5 * 2 s * rand 0.5 = 0.5 s
    assert decide(status, 2, policy(attempts=5, jitter=0.5), 0.5) == Decision(Verdict.RETRY, 2.5)


@pytest.mark.parametrize("status", [Status.FAILED, Status.TIMEOUT, Status.RETRY_LATER])
def test_a_failure_of_the_last_attempt_is_dead(status: Status) -> None:
    assert decide(status, 5, policy(attempts=5), 0.5, requested=10) == Decision(
        Verdict.DEAD, reason="failed all 5 attempts"
    )


def test_attempts_count_the_first_try() -> None:
    # attempts: 3 means the first run and two retries, then the dead-letter queue
    p = policy(attempts=3, kind="fixed", delay=10)
    verdicts = [decide(Status.FAILED, n, p, 0.0) for n in (1, 2, 3)]
    assert verdicts == [
        Decision(Verdict.RETRY, 10.0),
        Decision(Verdict.RETRY, 10.0),
        Decision(Verdict.DEAD, reason="failed all 3 attempts"),
    ]


def test_one_attempt_never_retries() -> None:
    p = policy(attempts=1)
    assert decide(Status.FAILED, 1, p, 0.0) == Decision(Verdict.DEAD, reason="failed all 1 attempt")
    assert decide(Status.RETRY_LATER, 1, p, 0.0, requested=5) == Decision(
        Verdict.DEAD, reason="failed all 1 attempt"
    )
    assert decide(Status.SUCCEEDED, 1, p, 0.0) == Decision(Verdict.DONE)


def test_retry_later_waits_the_requested_delay_instead_of_the_backoff() -> None:
    # the backoff after attempt 1 would be 1 s plus jitter; the handler asked for 30 s
    p = policy(attempts=5, jitter=0.5)
    assert decide(Status.RETRY_LATER, 1, p, 0.75, requested=30.0) == Decision(Verdict.RETRY, 30.0)


def test_retry_later_is_taken_as_given_even_above_max_delay() -> None:
    # an HTTP Retry-After of an hour is honoured: max_delay caps only the backoff
    p = policy(attempts=5, max_delay=300)
    assert decide(Status.RETRY_LATER, 1, p, 0.0, requested=3600.0) == Decision(
        Verdict.RETRY, 3600.0
    )


def test_retry_later_with_no_or_a_negative_delay_retries_at_once() -> None:
    p = policy(attempts=5)
    assert decide(Status.RETRY_LATER, 1, p, 0.5) == Decision(Verdict.RETRY, 0.0)
    assert decide(Status.RETRY_LATER, 1, p, 0.5, requested=-5.0) == Decision(Verdict.RETRY, 0.0)


@given(policies, st.integers(1, 20), st.integers(1, 30), rands)
def test_a_failure_retries_exactly_while_attempts_remain(
    p: RetryPolicy, attempts: int, attempt: int, rand: float
) -> None:
    limited = policy(
        attempts=attempts,
        kind=p.backoff,
        delay=p.delay.total_seconds(),
        max_delay=p.max_delay.total_seconds(),
        jitter=p.jitter,
    )
    got = decide(Status.FAILED, attempt, limited, rand)
    if attempt < attempts:
        assert got == Decision(Verdict.RETRY, backoff(limited, attempt, rand))
    else:
        assert got.verdict is Verdict.DEAD
