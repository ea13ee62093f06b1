"""`jobrunner schedules` as operators run it: a real process over a jobs directory.

The expected listings are exact: cronsim's words for each schedule and fire
times worked out by hand (see tests/values/test_schedule.py for the calendar
facts). 2026-03-28T12:00Z is a Saturday; Berlin moves to summer time at
01:00 UTC the next day, New York already has (8 March, UTC-4).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import run_cli

FROM = "2026-03-28T12:00:00Z"

REPORTS = """\
version: 1

queues:
  reports:
    handler: shell
    params: {command: ["/usr/local/bin/report"]}

cron:
  nightly:
    every: 15m
    queue: reports
  berlin:
    schedule: "30 2 * * *"
    timezone: Europe/Berlin
    handler: shell
    params: {command: ["/usr/local/bin/tidy"]}
  paused:
    schedule: "@hourly"
    handler: shell
    params: {command: ["/usr/local/bin/poll"]}
    suspend: true
"""

LAUNCH = """\
version: 1

cron:
  launch:
    at: "2030-06-01T09:00:00+02:00"
    handler: shell
    params: {command: ["/usr/local/bin/launch"]}
"""

BROKEN = """\
version: 1

cron:
  oops:
    schedule: "0 6 * * *"
    timezone: Europe/Berlim
    handler: shell
    params: {command: ["/usr/local/bin/oops"]}
"""

# 02:30 does not exist in Berlin on 29 March: the run is at 03:00 CEST.
LISTING = """\
berlin  (jobs.d/reports.yaml:12, run shell)
  At 02:30 every day (Europe/Berlin)
  2026-03-29 03:00:00+02:00 CEST
  2026-03-30 02:30:00+02:00 CEST
  2026-03-31 02:30:00+02:00 CEST

launch  (jobs.d/launch.yaml:4, run shell)
  Once, at 2030-06-01T09:00:00+02:00
  2030-06-01 07:00:00+00:00 UTC

nightly  (jobs.d/reports.yaml:9, enqueue into reports)
  Every 15m, aligned to the Unix epoch
  2026-03-28 12:15:00+00:00 UTC
  2026-03-28 12:30:00+00:00 UTC
  2026-03-28 12:45:00+00:00 UTC

paused  (jobs.d/reports.yaml:17, run shell)  [suspended: does not fire]
  At the start of every hour (UTC)
  2026-03-28 13:00:00+00:00 UTC
  2026-03-28 14:00:00+00:00 UTC
  2026-03-28 15:00:00+00:00 UTC
"""

# The same instants in New York (EDT, UTC-4).
LISTING_NEW_YORK = """\
berlin  (jobs.d/reports.yaml:12, run shell)
  At 02:30 every day (Europe/Berlin)
  2026-03-28 21:00:00-04:00 EDT
  2026-03-29 20:30:00-04:00 EDT
  2026-03-30 20:30:00-04:00 EDT

launch  (jobs.d/launch.yaml:4, run shell)
  Once, at 2030-06-01T09:00:00+02:00
  2030-06-01 03:00:00-04:00 EDT

nightly  (jobs.d/reports.yaml:9, enqueue into reports)
  Every 15m, aligned to the Unix epoch
  2026-03-28 08:15:00-04:00 EDT
  2026-03-28 08:30:00-04:00 EDT
  2026-03-28 08:45:00-04:00 EDT

paused  (jobs.d/reports.yaml:17, run shell)  [suspended: does not fire]
  At the start of every hour (UTC)
  2026-03-28 09:00:00-04:00 EDT
  2026-03-28 10:00:00-04:00 EDT
  2026-03-28 11:00:00-04:00 EDT
"""

MakeJobs = Callable[..., Path]


def schedules(cwd: Path, *args: str) -> tuple[int, str, str]:
    result = run_cli("schedules", *args, cwd=cwd)
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result.returncode, result.stdout, result.stderr


def test_lists_each_entry_in_words_and_times(jobs_dir: MakeJobs) -> None:
    root = jobs_dir(**{"reports.yaml": REPORTS, "launch.yaml": LAUNCH})
    assert schedules(root.parent, "jobs.d", "--from", FROM, "--next", "3") == (0, LISTING, "")


def test_tz_shows_every_time_in_one_zone(jobs_dir: MakeJobs) -> None:
    root = jobs_dir(**{"reports.yaml": REPORTS, "launch.yaml": LAUNCH})
    args = ("jobs.d", "--from", FROM, "--next", "3", "--tz", "America/New_York")
    assert schedules(root.parent, *args) == (0, LISTING_NEW_YORK, "")


def test_a_repeated_hour_shows_both_offsets(jobs_dir: MakeJobs) -> None:
    # Berlin falls back at 01:00 UTC on 25 October: an hourly job runs at
    # 02:00 CEST and again an hour later at 02:00 CET.
    root = jobs_dir(
        **{
            "hourly.yaml": (
                "version: 1\ncron:\n  hourly:\n    schedule: '0 * * * *'\n"
                "    timezone: Europe/Berlin\n    handler: shell\n"
                "    params: {command: [/bin/true]}\n"
            )
        }
    )
    code, out, err = schedules(
        root.parent, "jobs.d", "--from", "2026-10-24T23:30:00Z", "--next", "3"
    )
    assert (code, err) == (0, "")
    assert out == (
        "hourly  (jobs.d/hourly.yaml:3, run shell)\n"
        "  At the start of every hour (Europe/Berlin)\n"
        "  2026-10-25 02:00:00+02:00 CEST\n"
        "  2026-10-25 02:00:00+01:00 CET\n"
        "  2026-10-25 03:00:00+01:00 CET\n"
    )


def test_a_file_with_errors_is_reported_and_left_out(jobs_dir: MakeJobs) -> None:
    root = jobs_dir(**{"reports.yaml": REPORTS, "launch.yaml": LAUNCH, "broken.yaml": BROKEN})
    code, out, err = schedules(root.parent, "jobs.d", "--from", FROM, "--next", "3")
    assert code == 1
    assert out == LISTING, "the good files' entries are still listed"
    assert err.startswith(
        "jobs.d/broken.yaml:6:15: error: cron.oops.timezone: "
        "unknown time zone 'Europe/Berlim' (did you mean 'Europe/Berlin'?) [timezone]\n"
    )
    assert "oops" not in out


def test_a_one_shot_in_the_past_has_no_fire_times(jobs_dir: MakeJobs) -> None:
    root = jobs_dir(**{"launch.yaml": LAUNCH})
    code, out, _ = schedules(root.parent, "jobs.d", "--from", "2031-01-01T00:00:00Z")
    assert code == 0
    assert out == (
        "launch  (jobs.d/launch.yaml:4, run shell)\n"
        "  Once, at 2030-06-01T09:00:00+02:00\n"
        "  (no future fire times)\n"
    )


def test_without_cron_entries(jobs_dir: MakeJobs) -> None:
    root = jobs_dir(**{"queue.yaml": REPORTS.split("\ncron:")[0] + "\n"})
    assert schedules(root.parent, "jobs.d", "--from", FROM) == (0, "no cron entries\n", "")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--tz", "Mars/Base"),
            "Error: Invalid value for '--tz': unknown time zone 'Mars/Base': "
            "use an IANA name like Europe/Berlin\n",
        ),
        (
            ("--from", "tomorrow"),
            "Error: Invalid value for '--from': invalid time 'tomorrow': expected RFC 3339 "
            "with an offset, like 2026-12-01T09:00:00+01:00 or 2026-12-01T08:00:00Z\n",
        ),
        (
            ("--from", "2026-03-28T12:00:00"),
            "Error: Invalid value for '--from': time '2026-03-28T12:00:00' has no UTC offset: "
            "add one (Z, +01:00, …) so every host agrees\n",
        ),
        (
            ("--from", "9999-12-31T23:00:00Z"),
            "Error: Invalid value for '--from': time '9999-12-31T23:00:00Z' is out of range: "
            "give a year from 1970 to 8999\n",
        ),
        (
            ("--next", "0"),
            "Error: Invalid value for '--next': 0 is not in the range 1<=x<=1000.\n",
        ),
        (("nowhere",), "Error: nowhere: no such file or directory\n"),
    ],
)
def test_usage_errors_exit_2_with_a_message(
    jobs_dir: MakeJobs, args: tuple[str, ...], message: str
) -> None:
    root = jobs_dir(**{"reports.yaml": REPORTS})
    paths = () if args == ("nowhere",) else ("jobs.d",)
    code, out, err = schedules(root.parent, *paths, *args)
    assert (code, out) == (2, "")
    assert err.endswith(message), err
