"""Fire times worked out by hand, written down literally, checked against `schedule`.

Every expected instant below was computed on paper (calendar and epoch
arithmetic in the comments), never by calling the code under test. The clock
is always passed in: no test sleeps or reads the time.

Calendar facts used throughout (2026): 1 January is a Thursday, 1 March a
Sunday, 1 April a Wednesday, 1 May a Friday, 1 October a Thursday.
Europe/Berlin: summer time starts Sun 29 March at 01:00 UTC (02:00 CET jumps
to 03:00 CEST) and ends Sun 25 October at 01:00 UTC (03:00 CEST falls back to
02:00 CET, so 02:00-02:59 happens twice). America/New_York: starts Sun 8 March
at 07:00 UTC (02:00 EST to 03:00 EDT), ends Sun 1 November at 06:00 UTC
(02:00 EDT back to 01:00 EST, so 01:00-01:59 happens twice).

Debian cron's rule (cron(8), "Daylight Saving Time and other time changes"):
jobs at a fixed time, with neither the minute nor the hour field starting
with `*`, run once when the clock jumps (a skipped time runs right after the
jump, a repeated time runs only the first time); jobs with a wildcard minute
or hour are "scheduled normally", that is by real time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jobrunner.values.schedule import At, Cron, Every, check_cron, explain, next_fire, upcoming


def utc(text: str) -> datetime:
    """`2026-03-28 12:00` (or with seconds) as an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def fires(expression: str, start: str, count: int, zone: str = "UTC") -> list[str]:
    """The next `count` fire times after `start` (UTC), as UTC text."""
    times = upcoming(Cron(expression, zone), utc(start), count)
    return [t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") for t in times]


# -- cron expressions, in UTC ------------------------------------------------


def test_five_fields_fire_at_the_given_minute_and_hour() -> None:
    # 12:00 is past 04:30, so the first run is the next day's.
    assert fires("30 4 * * *", "2026-03-28 12:00", 3) == [
        "2026-03-29 04:30:00",
        "2026-03-30 04:30:00",
        "2026-03-31 04:30:00",
    ]


def test_six_fields_put_seconds_first() -> None:
    # second 15 of minutes 0, 10, 20, …
    assert fires("15 */10 * * * *", "2026-03-28 12:00", 3) == [
        "2026-03-28 12:00:15",
        "2026-03-28 12:10:15",
        "2026-03-28 12:20:15",
    ]


def test_next_fire_is_strictly_after_the_given_instant() -> None:
    assert next_fire(Cron("0 * * * *"), utc("2026-03-28 12:00")) == utc("2026-03-28 13:00")
    assert next_fire(Cron("0 * * * *"), utc("2026-03-28 11:59:59.999999")) == utc(
        "2026-03-28 12:00"
    )


def test_month_and_weekday_names_in_any_case() -> None:
    # Mondays of January: 2026-01-01 is a Thursday, so the 5th, 12th, 19th and
    # 26th; 2027-01-01 is a Friday (2026 has 365 days), so then the 4th.
    expected = [
        "2026-01-05 09:00:00",
        "2026-01-12 09:00:00",
        "2026-01-19 09:00:00",
        "2026-01-26 09:00:00",
        "2027-01-04 09:00:00",
    ]
    assert fires("0 9 * JAN MON", "2026-01-01 00:00", 5) == expected
    assert fires("0 9 * jan mon", "2026-01-01 00:00", 5) == expected


def test_day_of_month_and_weekday_both_restricted_means_either() -> None:
    # Vixie/Debian rule: the 13th of each month OR any Friday. March 2026:
    # Fridays are the 6th, 13th, 20th, 27th.
    assert fires("0 0 13 * FRI", "2026-03-01 00:00", 4) == [
        "2026-03-06 00:00:00",
        "2026-03-13 00:00:00",
        "2026-03-20 00:00:00",
        "2026-03-27 00:00:00",
    ]


def test_last_day_of_the_month() -> None:
    assert fires("0 0 L * *", "2026-02-10 00:00", 3) == [
        "2026-02-28 00:00:00",
        "2026-03-31 00:00:00",
        "2026-04-30 00:00:00",
    ]
    assert fires("0 0 L 2 *", "2027-03-01 00:00", 1) == ["2028-02-29 00:00:00"]  # leap year


def test_last_weekday_of_the_month() -> None:
    # Last Friday: March 2026 Fridays 6, 13, 20, 27; April (1st a Wednesday) 3, 10, 17, 24.
    assert fires("0 12 * * 5L", "2026-03-01 00:00", 2) == [
        "2026-03-27 12:00:00",
        "2026-04-24 12:00:00",
    ]


def test_nth_weekday_of_the_month() -> None:
    # Second Monday: March (1st a Sunday) → 9th; April (1st a Wednesday) → 13th;
    # May (1st a Friday) → 11th.
    assert fires("0 10 * * MON#2", "2026-03-01 00:00", 3) == [
        "2026-03-09 10:00:00",
        "2026-04-13 10:00:00",
        "2026-05-11 10:00:00",
    ]


@pytest.mark.parametrize(
    ("macro", "first"),
    [
        ("@yearly", "2027-01-01 00:00:00"),
        ("@annually", "2027-01-01 00:00:00"),
        ("@monthly", "2026-04-01 00:00:00"),
        ("@weekly", "2026-03-29 00:00:00"),  # 2026-03-28 is a Saturday
        ("@daily", "2026-03-29 00:00:00"),
        ("@midnight", "2026-03-29 00:00:00"),
        ("@hourly", "2026-03-28 13:00:00"),
        ("@HOURLY", "2026-03-28 13:00:00"),
    ],
)
def test_macros(macro: str, first: str) -> None:
    assert fires(macro, "2026-03-28 12:00", 1) == [first]


def test_macro_in_a_time_zone_means_local_midnight() -> None:
    # Midnight in Berlin on the 29th is 23:00 UTC on the 28th (still CET);
    # on the 30th it is 22:00 UTC (CEST since the 29th).
    assert fires("@daily", "2026-03-28 12:00", 2, "Europe/Berlin") == [
        "2026-03-28 23:00:00",
        "2026-03-29 22:00:00",
    ]


# -- every: aligned to the Unix epoch ----------------------------------------


def test_every_is_aligned_to_the_epoch_not_to_the_start() -> None:
    every = Every(timedelta(minutes=15))
    assert upcoming(every, utc("2026-03-28 10:07"), 2) == [
        utc("2026-03-28 10:15"),
        utc("2026-03-28 10:30"),
    ]


def test_every_seven_minutes() -> None:
    # 2026-03-28 is day 20,540 since 1970-01-01 (56 years with 14 leap days =
    # 20,454 days, plus 31 + 28 + 27). 12:00 that day is minute
    # 20,540 * 1440 + 720 = 29,578,320, which is 2 more than a multiple of 7
    # (7 * 4,225,474 = 29,578,318): the ticks around it are 11:58 and 12:05.
    every = Every(timedelta(minutes=7))
    assert upcoming(every, utc("2026-03-28 12:00"), 3) == [
        utc("2026-03-28 12:05"),
        utc("2026-03-28 12:12"),
        utc("2026-03-28 12:19"),
    ]


def test_every_week_ticks_on_thursdays() -> None:
    # 1970-01-01 was a Thursday and day 20,540 is 2 days past a multiple of 7:
    # the last tick was Thursday 2026-03-26, the next is Thursday 2026-04-02.
    assert next_fire(Every(timedelta(days=7)), utc("2026-03-28 12:00")) == utc("2026-04-02 00:00")


def test_every_from_a_tick_gives_the_next_tick() -> None:
    assert next_fire(Every(timedelta(hours=1)), utc("2026-03-28 12:00")) == utc("2026-03-28 13:00")


def test_every_with_milliseconds_is_exact() -> None:
    # 1.5 s divides a day (57,600 ticks), so midnight is a tick.
    every = Every(timedelta(milliseconds=1500))
    assert upcoming(every, utc("2026-03-28 00:00"), 2) == [
        utc("2026-03-28 00:00:01.500000"),
        utc("2026-03-28 00:00:03"),
    ]


def test_every_ignores_local_time_and_daylight_saving() -> None:
    # 30-minute ticks straight through the Berlin spring-forward gap (01:00 UTC).
    assert upcoming(Every(timedelta(minutes=30)), utc("2026-03-29 00:10"), 3) == [
        utc("2026-03-29 00:30"),
        utc("2026-03-29 01:00"),
        utc("2026-03-29 01:30"),
    ]


# -- at: one shot ------------------------------------------------------------

AT = At(datetime.fromisoformat("2026-12-01T09:00:00+01:00"))


def test_at_before_the_instant_fires_once_in_utc() -> None:
    assert upcoming(AT, utc("2026-03-28 12:00"), 3) == [utc("2026-12-01 08:00")]


def test_at_on_or_after_the_instant_never_fires() -> None:
    assert next_fire(AT, utc("2026-12-01 08:00")) is None
    assert next_fire(AT, utc("2027-01-01 00:00")) is None


# -- daylight saving time, Debian cron semantics -----------------------------


def test_berlin_spring_forward_runs_a_skipped_fixed_time_job_right_after_the_gap() -> None:
    # 02:30 does not exist on 29 March: run at 03:00 CEST (01:00 UTC). The
    # next day 02:30 CEST is 00:30 UTC.
    assert fires("30 2 * * *", "2026-03-28 12:00", 2, "Europe/Berlin") == [
        "2026-03-29 01:00:00",
        "2026-03-30 00:30:00",
    ]
    assert fires("0 2 * * *", "2026-03-28 12:00", 1, "Europe/Berlin") == ["2026-03-29 01:00:00"]


def test_berlin_spring_forward_does_not_duplicate_a_half_hourly_job() -> None:
    # From 01:00 CET: 01:30 CET, then 03:00 and 03:30 CEST, 30 real minutes apart.
    assert fires("*/30 * * * *", "2026-03-29 00:00", 3, "Europe/Berlin") == [
        "2026-03-29 00:30:00",
        "2026-03-29 01:00:00",
        "2026-03-29 01:30:00",
    ]


def test_berlin_spring_forward_hourly_job_runs_by_real_time() -> None:
    # From 00:30 CET: 01:00 CET, 03:00 CEST, 04:00 CEST: one run every real
    # hour, none for the 02:00 that never happens.
    assert fires("0 * * * *", "2026-03-28 23:30", 3, "Europe/Berlin") == [
        "2026-03-29 00:00:00",
        "2026-03-29 01:00:00",
        "2026-03-29 02:00:00",
    ]


def test_berlin_fall_back_runs_a_repeated_fixed_time_once_at_its_first_occurrence() -> None:
    # 02:30 happens at 00:30 UTC (CEST) and at 01:30 UTC (CET): only the first
    # runs. The next day 02:30 CET is 01:30 UTC.
    assert fires("30 2 * * *", "2026-10-24 12:00", 2, "Europe/Berlin") == [
        "2026-10-25 00:30:00",
        "2026-10-26 01:30:00",
    ]


def test_berlin_fall_back_from_inside_the_repeated_hour_does_not_go_back_in_time() -> None:
    # At 01:10 UTC (02:10 CET, the second pass) the 02:30 run (00:30 UTC) is
    # already done: the next is the next day's. A regression test: cronsim
    # counts wall time and would answer 00:30 UTC, before the given instant.
    assert fires("30 2 * * *", "2026-10-25 01:10", 1, "Europe/Berlin") == ["2026-10-26 01:30:00"]
    assert fires("50 2 * * *", "2026-10-25 01:45", 1, "Europe/Berlin") == ["2026-10-26 01:50:00"]


def test_berlin_fall_back_hourly_job_runs_by_real_time() -> None:
    # From 01:30 CEST: 02:00 CEST, 02:00 CET (again, an hour later), 03:00 CET.
    assert fires("0 * * * *", "2026-10-24 23:30", 3, "Europe/Berlin") == [
        "2026-10-25 00:00:00",
        "2026-10-25 01:00:00",
        "2026-10-25 02:00:00",
    ]


def test_berlin_fall_back_half_hourly_job_runs_every_real_half_hour() -> None:
    assert fires("*/30 * * * *", "2026-10-24 23:50", 5, "Europe/Berlin") == [
        "2026-10-25 00:00:00",  # 02:00 CEST
        "2026-10-25 00:30:00",  # 02:30 CEST
        "2026-10-25 01:00:00",  # 02:00 CET
        "2026-10-25 01:30:00",  # 02:30 CET
        "2026-10-25 02:00:00",  # 03:00 CET
    ]


def test_six_field_expressions_follow_real_time_through_the_gap() -> None:
    # cronsim applies Debian's fixed-time rule to 5-field expressions only;
    # with seconds, 02:30:00 is skipped on 29 March like any wildcard job.
    assert fires("0 30 2 * * *", "2026-03-28 12:00", 1, "Europe/Berlin") == ["2026-03-30 00:30:00"]
    assert fires("0 30 2 * * *", "2026-10-24 12:00", 2, "Europe/Berlin") == [
        "2026-10-25 00:30:00",
        "2026-10-25 01:30:00",
    ]


def test_new_york_spring_forward() -> None:
    # 02:30 on 8 March does not exist: 03:00 EDT (07:00 UTC); on the 9th
    # 02:30 EDT is 06:30 UTC. 12:00 UTC on the 7th is 07:00 EST, past 02:30.
    assert fires("30 2 * * *", "2026-03-07 12:00", 2, "America/New_York") == [
        "2026-03-08 07:00:00",
        "2026-03-09 06:30:00",
    ]
    # From 01:00 EST: 01:30 EST, 03:00 EDT, 03:30 EDT.
    assert fires("*/30 * * * *", "2026-03-08 06:00", 3, "America/New_York") == [
        "2026-03-08 06:30:00",
        "2026-03-08 07:00:00",
        "2026-03-08 07:30:00",
    ]


def test_new_york_fall_back() -> None:
    # 01:30 happens at 05:30 UTC (EDT) and 06:30 UTC (EST): only the first
    # runs; on 2 November 01:30 EST is 06:30 UTC.
    assert fires("30 1 * * *", "2026-10-31 12:00", 2, "America/New_York") == [
        "2026-11-01 05:30:00",
        "2026-11-02 06:30:00",
    ]
    # Hourly from 00:30 EDT: 01:00 EDT, 01:00 EST, 02:00 EST.
    assert fires("0 * * * *", "2026-11-01 04:30", 3, "America/New_York") == [
        "2026-11-01 05:00:00",
        "2026-11-01 06:00:00",
        "2026-11-01 07:00:00",
    ]


def test_fire_times_are_utc_so_arithmetic_across_a_fold_is_right() -> None:
    # Two datetimes of one zone compare and subtract by wall time, ignoring
    # `fold`; in UTC the hourly runs at 02:00 CEST and 02:00 CET are 1 h apart.
    first, second = upcoming(Cron("0 * * * *", "Europe/Berlin"), utc("2026-10-24 23:30"), 2)
    assert first.tzinfo is UTC and second.tzinfo is UTC
    assert second - first == timedelta(hours=1)


# -- ends of time ------------------------------------------------------------


def test_no_fire_time_past_the_year_9999() -> None:
    late = utc("9999-12-31 23:00")
    assert next_fire(Cron("0 0 1 1 *"), late) is None
    assert next_fire(Every(timedelta(days=1)), late) is None
    assert upcoming(Cron("30 * * * *"), late, 3) == [utc("9999-12-31 23:30")]


# -- checking and explaining -------------------------------------------------


@pytest.mark.parametrize(
    "expression",
    ["0 * * * *", "*/5 * * * * *", "0 9 * JAN-MAR MON-FRI", "0 0 L * *", "0 0 * * 5#3", "@daily"],
)
def test_check_cron_accepts(expression: str) -> None:
    assert check_cron(expression) is None


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("@reboot", "unknown macro '@reboot': expected one of @yearly, @annually, @monthly"),
        ("0 * * *", "a cron expression has 5 fields (minute hour day month weekday), or 6"),
        ("61 * * * *", "invalid cron expression '61 * * * *': bad minute field"),
        ("0 0 30 2 *", "invalid cron expression '0 0 30 2 *': bad day-of-month field"),
        # A fifth Sunday in February is always the 29th, which */10 never picks.
        ("0 0 */10 2 SUN#5", "cron expression '0 0 */10 2 SUN#5' never fires"),
    ],
)
def test_check_cron_refuses(expression: str, message: str) -> None:
    problem = check_cron(expression)
    assert problem is not None
    assert problem.startswith(message)


@pytest.mark.parametrize(
    ("schedule", "words"),
    [
        (Cron("0 6 * * MON", "Europe/Berlin"), "At 06:00 on Monday (Europe/Berlin)"),
        (Cron("@hourly"), "At the start of every hour (UTC)"),
        (Cron("0 0 L * *"), "At 00:00 on the last day of every month (UTC)"),
        (Cron("0 9 * * MON#2"), "At 09:00 on the second Monday of the month (UTC)"),
        (Cron("*/5 * * * * *"), "Every fifth second of every minute (UTC)"),
        (Every(timedelta(minutes=90)), "Every 1h30m, aligned to the Unix epoch"),
        (AT, "Once, at 2026-12-01T09:00:00+01:00"),
    ],
)
def test_explain(schedule: Cron | Every | At, words: str) -> None:
    assert explain(schedule) == words
