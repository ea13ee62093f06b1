"""Fuzzing: no input makes the loader raise, hang or point outside the file.

Four families of input, from the least to the most like a real job file:
arbitrary bytes and YAML-flavoured text; random YAML structures; mutations of
a valid job file (by data and by text); and the same mutations through the
real `jobrunner validate` process. Then the algebra of `schedule` and
`duration`: a next fire time is after its instant, fire times increase,
`every` ticks are multiples of the interval since the epoch, and a formatted
duration parses back to itself.

Profiles: `ci` (the default) is derandomized and keeps no example database,
so every run tries the same examples; `JOBRUNNER_HYPOTHESIS=deep` explores
ten times as many, at random, and remembers failures in `.hypothesis/`:

    JOBRUNNER_HYPOTHESIS=deep pytest tests/parse/test_fuzz.py -o timeout=0

Deadlines turn a hang (a quadratic blow-up, a runaway alias) into a failure
with the offending input.

Bugs found here are pinned at the end of this file. Mark one not fixed yet
`xfail(strict=True)`: its fix then turns into an XPASS, which fails, as a
reminder to delete the mark.
"""

from __future__ import annotations

import copy
import itertools
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import run_cli
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from jobrunner import config
from jobrunner.parse import document
from jobrunner.problem import Problem
from jobrunner.registry import discover
from jobrunner.values import duration
from jobrunner.values.schedule import Cron, Every, check_cron, next_fire, upcoming

settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=timedelta(seconds=2),
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "deep",
    deadline=timedelta(seconds=2),
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
PROFILE = os.environ.get("JOBRUNNER_HYPOTHESIS", "ci")
SCALE = {"ci": 1, "deep": 10}[PROFILE]


def budget(examples: int, **overrides: Any) -> settings:
    """The profile's settings with this test's share of the time budget."""
    return settings(settings.get_profile(PROFILE), max_examples=examples * SCALE, **overrides)


NOW = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
REGISTRY = discover()
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# A valid job file using every feature once; the seed of every mutation.
VALID = """\
# Billing: queues fed by cron entries. Grüße an die Buchhaltung.
version: 1

defaults:
  timeout: 5m
  retry: {attempts: 5, backoff: exponential, delay: 2s, max_delay: 10m, jitter: 0.5}

queues:
  send-email:
    description: Transactional e-mail für Kunden
    handler: http
    params:
      url: https://mail.internal/send/{template}
      method: POST
      headers: {Authorization: "Bearer ${env:MAIL_TOKEN}"}
    payload_schema:
      type: object
      required: [to, template]
      properties:
        to: {type: string}
        template: {type: string}
    concurrency: 10
    rate_limit: 100/s
    priority: high
    idempotency: {key: "{to}:{template}", ttl: 24h}
    dead_letter: {retain: 14d}
    retain_completed: 1h
  reports:
    handler: shell
    params: {command: ["/usr/local/bin/report", "--quiet"]}
    payload_schema: {type: object, required: [kind], properties: {kind: {enum: [nightly, weekly]}}}
    isolation: process
    timeout: 30m
    labels: {team: finance}

cron:
  renew-subscriptions:
    schedule: "0 * * * *"
    timezone: Europe/Berlin
    handler: python
    params: {callable: "billing.tasks:renew_expiring"}
    overlap: forbid
    starting_deadline: 10m
    jitter: 30s
  nightly-report:
    every: 15m
    queue: reports
    payload: {kind: nightly}
  weekly-report:
    schedule: "0 6 * * MON"
    queue: reports
    payload: {kind: weekly}
    suspend: false
  trial-expiry:
    at: "2026-12-01T09:00:00+01:00"
    handler: shell
    params: {command: ["/usr/local/bin/expire-trials"]}
    retry: {attempts: 1}
"""
VALID_DATA = yaml.safe_load(VALID)

# -- checking a load ---------------------------------------------------------

_BREAK = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")  # what YAML counts as a line break
_ODD_BREAK = re.compile(r"\r(?!\n)|[\x85\u2028\u2029]")


def assert_placed(problems: Iterable[Problem], raw: bytes) -> None:
    """Every problem names a real place in `raw`: a line of it (or the one after
    the last), a column within that line (or just past its end)."""
    text = raw.decode("utf-8-sig", "replace")
    lines = _BREAK.split(text)
    for p in problems:
        assert 1 <= p.line <= len(lines) + 1, (p, len(lines))
        assert p.column >= 1, p
        assert p.message, p
        if p.line > len(lines) or p.code == "encoding":  # columns of undecodable bytes
            continue
        if p.message.startswith("found control character") and _ODD_BREAK.search(text):
            continue  # test_a_control_character_after_a_carriage_return
        assert p.column <= len(lines[p.line - 1]) + 1, (p, lines[p.line - 1])


def load(texts: dict[str, bytes]) -> config.Loaded:
    """`config.assemble` over `texts`, checking where each problem points."""
    loaded = config.assemble(texts, config.Options(), now=NOW, registry=REGISTRY)
    for name, raw in texts.items():
        assert_placed([p for p in loaded.problems if p.file == name], raw)
    assert {p.file for p in loaded.problems} <= set(texts)
    assert loaded.failed.isdisjoint(loaded.config.files)
    return loaded


def test_the_seed_file_is_valid() -> None:
    loaded = load({"billing.yaml": VALID.encode()})
    assert loaded.problems == []
    assert len(loaded.config.queues) == 2 and len(loaded.config.crons) == 4


# -- (a) arbitrary bytes and YAML-flavoured text -----------------------------

YAML_BITS = [
    "\n", " ", "  ", "- ", ": ", ":", "[", "]", "{", "}", ", ", "&a ", "*a", "&b ", "*b",
    "<<: ", "<<: *a", "!!str ", "!!int ", "!!bool ", "!!float ", "!!binary ", "!custom ", "? ",
    "!!python/object:os.system ",
    "|\n", ">-\n", "# c\n", "'", '"', "\\", "\t", "---\n", "...\n", "%YAML 1.1\n", "%TAG ! x\n",
    "version: 1\n", "queues:\n", "cron:\n", "  a:\n", "    handler: shell\n", "    params: ",
    "schedule: ", "every: ", "at: ", "timezone: ", "0 * * * *", "5m", "1e400", "99999999999d",
    "2026-13-45T99:00:00Z", "\ufeff", "\x00", "\x85", "\u2028", "é", "💥", "\r", "\r\n", "~",
    ".nan", "0x1F", "0o17", "1_000", "2001-12-14", "null", "yes", "no",
]  # fmt: skip
yamlish = st.lists(st.one_of(st.sampled_from(YAML_BITS), st.text(max_size=4)), max_size=80).map(
    "".join
)
any_bytes = st.one_of(st.binary(max_size=600), yamlish.map(str.encode))

BILLION_LAUGHS = b"a: &a [x, x, x, x, x, x, x, x, x, x]\n" + b"".join(
    b"%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n"
    % (n, n, p, p, p, p, p, p, p, p, p, p)
    for p, n in itertools.pairwise(b"abcdefghij")
)


@budget(300)
@given(any_bytes)
@example(BILLION_LAUGHS)
@example(b"a: &a [*a]")
@example(b"\xff\xfe\x00v")
@example(b"version: 1\ncron:\n  x:\n\tschedule: '* * * * *'\n")
@example(b"a: 1\n---\nb: 2\n")
def test_parse_never_raises(raw: bytes) -> None:
    doc = document.parse("fuzz.yaml", raw)
    if doc.data is None:
        assert doc.problems
    assert_placed(doc.problems, raw)


files = st.dictionaries(
    st.sampled_from(["a.yaml", "b.yaml", "sub/c.yml"]), any_bytes, min_size=1, max_size=3
)


@budget(200)
@given(files)
@example({"a.yaml": BILLION_LAUGHS, "b.yaml": VALID.encode()})
def test_assemble_never_raises(texts: dict[str, bytes]) -> None:
    load(texts)


def test_assemble_reports_an_unreadable_file() -> None:
    texts: dict[str, bytes | OSError] = {"gone.yaml": PermissionError(13, "Permission denied")}
    loaded = config.assemble(texts, config.Options(), now=NOW, registry=REGISTRY)
    assert [(p.file, p.line, p.column, p.severity) for p in loaded.problems] == [
        ("gone.yaml", 1, 1, "error")
    ]


# -- (b) random YAML structures ----------------------------------------------

SECTION_KEYS = ["version", "defaults", "queues", "cron"]
ENTRY_KEYS = [
    "description", "labels", "handler", "params", "timeout", "isolation", "retry", "priority",
    "dead_letter", "retain_completed", "max_deliveries", "concurrency", "rate_limit",
    "idempotency", "payload_schema", "schedule", "every", "at", "timezone", "overlap",
    "starting_deadline", "jitter", "suspend", "queue", "payload", "max_payload", "memory_limit",
]  # fmt: skip
INNER_KEYS = [
    "attempts", "backoff", "delay", "max_delay", "jitter", "retain", "key", "ttl", "command",
    "url", "method", "headers", "callable", "type", "required", "properties", "enum", "kind",
]  # fmt: skip
PLAUSIBLE = [
    1, 0, -1, 2, 0.5, 1.5, True, False, None, "", " ", "5m", "0", "0s", "500ms", "1h30m", "1.5h",
    "100/s", "0/s", "10 per second", "0 * * * *", "*/5 * * * * *", "@daily", "@reboot",
    "0 0 30 2 *", "Europe/Berlin", "Mars/Olympus", "shell", "http", "python", "nope",
    "reports", "send-email", "${env:X}", "${env:}", "${file:/etc/x}", "${nope:x}", "{to}",
    "{", "2026-12-01T09:00:00Z", "2026-12-01T09:00:00", "2020-01-01T00:00:00+00:00",
    "forbid", "allow", "thread", "process", "critical", "fixed", "exponential", "object",
    "string", ["echo", "hi"], {"type": "object"}, {"type": "nonsense"}, {"kind": "nightly"},
    10**20, 2**63, -(2**63), 1e300, "256KiB", "4M", "1.5GiB", "2000TiB", "1 MiB", 2**70,
]  # fmt: skip
names = st.one_of(
    st.sampled_from(["a", "reports", "send-email", "nightly", "Bad Name", "x" * 70, "1", ""]),
    st.text(max_size=8),
)
keys = st.one_of(
    st.sampled_from(SECTION_KEYS + ENTRY_KEYS + INNER_KEYS), st.text(max_size=8), names
)
scalars = st.one_of(
    st.sampled_from(PLAUSIBLE),
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.dates(),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=16,
)
entries = st.dictionaries(st.sampled_from(ENTRY_KEYS) | keys, values, max_size=8)
job_shaped = st.fixed_dictionaries(
    {},
    optional={
        "version": st.one_of(st.just(1), values),
        "defaults": st.dictionaries(st.sampled_from(ENTRY_KEYS), values, max_size=5),
        "queues": st.dictionaries(names, entries, max_size=3) | values,
        "cron": st.dictionaries(names, entries, max_size=3) | values,
    },
)


def dump(data: Any, flow: bool | None) -> bytes:
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=flow)
    return text.encode()


@budget(150)
@given(values, st.sampled_from([False, True, None]))
def test_random_structures_never_raise(data: Any, flow: bool | None) -> None:
    load({"random.yaml": dump(data, flow)})


@budget(250)
@given(st.lists(job_shaped, min_size=1, max_size=2), st.sampled_from([False, None]))
def test_job_shaped_structures_never_raise(docs: list[Any], flow: bool | None) -> None:
    load({f"f{i}.yaml": dump(doc, flow) for i, doc in enumerate(docs)})


# -- (c) mutations of a valid job file ---------------------------------------


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path to a value inside `data`, the root excluded."""
    if not isinstance(data, dict | list):
        return
    for key, value in data.items() if isinstance(data, dict) else enumerate(data):
        yield (*prefix, key)
        yield from _paths(value, (*prefix, key))


def _get(data: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        data = data[key]
    return data


def _mutate_data(draw: Callable[..., Any], data: Any) -> str:
    paths = list(_paths(data))
    path = draw(st.sampled_from(paths))
    parent, key = _get(data, path[:-1]), path[-1]
    kind = draw(st.sampled_from(["drop", "retype", "insert", "swap"]))
    if kind == "drop":
        del parent[key]
    elif kind == "retype":
        parent[key] = draw(values.filter(lambda v: type(v) is not type(parent[key])))
    elif kind == "insert":
        target = draw(st.sampled_from([(), *(p for p in paths if isinstance(_get(data, p), dict))]))
        _get(data, target)[draw(keys)] = draw(values)
        path = target
    else:
        other = draw(st.sampled_from(paths))
        if other[: len(path)] == path or path[: len(other)] == other:
            return "swap (skipped: nested)"
        mine, theirs = copy.deepcopy(parent[key]), copy.deepcopy(_get(data, other))
        parent[key] = theirs
        _get(data, other[:-1])[other[-1]] = mine
    return f"{kind} {document.render_path(tuple(str(p) for p in path))}"


def _mutate_text(draw: Callable[..., Any], raw: bytes) -> tuple[str, bytes]:
    kind = draw(st.sampled_from(["truncate", "tab", "duplicate", "delete", "insert"]))
    at = draw(st.integers(0, len(raw)))
    lines = raw.splitlines(keepends=True) or [b""]
    line = draw(st.integers(0, len(lines) - 1))
    if kind == "truncate":
        return f"truncate at byte {at}", raw[:at]
    if kind == "tab":
        return f"tab at byte {at}", raw[:at] + b"\t" + raw[at:]
    if kind == "duplicate":
        return f"duplicate line {line + 1}", b"".join(lines[: line + 1] + lines[line:])
    if kind == "delete":
        return f"delete line {line + 1}", b"".join(lines[:line] + lines[line + 1 :])
    bit = draw(st.sampled_from(YAML_BITS)).encode()
    return f"insert {bit!r} at byte {at}", raw[:at] + bit + raw[at:]


@st.composite
def mutated(draw: Callable[..., Any]) -> tuple[list[str], bytes]:
    """The valid file after 1-4 mutations of its data and then of its text."""
    done: list[str] = []
    data_steps = draw(st.integers(0, 2))
    text_steps = draw(st.integers(0 if data_steps else 1, 2))
    if data_steps:
        data = copy.deepcopy(VALID_DATA)
        for _ in range(data_steps):
            done.append(_mutate_data(draw, data))
        raw = dump(data, draw(st.sampled_from([False, None])))
    else:
        raw = VALID.encode()
    for _ in range(text_steps):
        step, raw = _mutate_text(draw, raw)
        done.append(step)
    return done, raw


@budget(300)
@given(mutated())
def test_mutations_of_a_valid_file_are_reported_in_place(case: tuple[list[str], bytes]) -> None:
    _, raw = case
    load({"billing.yaml": raw})


@budget(100)
@given(mutated(), mutated())
def test_mutations_across_two_files(
    one: tuple[list[str], bytes], two: tuple[list[str], bytes]
) -> None:
    # Two copies of one file: names defined twice, references across files;
    # the problems of each file must still point into that file.
    load({"one.yaml": one[1], "two.yaml": two[1]})


# -- (d) the real command ----------------------------------------------------


@budget(15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mutated(), min_size=1, max_size=3))
def test_validate_command_never_crashes(cases: list[tuple[list[str], bytes]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for i, (_, raw) in enumerate(cases):
            (Path(tmp) / f"job{i}.yaml").write_bytes(raw)
        result = run_cli("validate", tmp)
    assert "Traceback" not in result.stdout + result.stderr
    assert "internal error" not in result.stderr
    assert result.returncode in (0, 1), result.stderr


# -- (e) the algebra of schedules and durations ------------------------------

ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",  # half-hour daylight saving shift
    "America/Santiago",  # changes at midnight
    "Asia/Kathmandu",  # +05:45
    "Pacific/Apia",  # skipped 30 December 2011 entirely
    "Africa/Casablanca",  # daylight saving suspended every Ramadan
    "Antarctica/Troll",  # a two-hour shift
]


def _field(low: int, high: int, extra: tuple[str, ...] = ()) -> st.SearchStrategy[str]:
    number = st.integers(low, high).map(str)
    atom = st.one_of(number, st.sampled_from(extra)) if extra else number
    span = st.tuples(st.integers(low, high), st.integers(low, high)).map(
        lambda ab: f"{min(ab)}-{max(ab)}"
    )
    step = st.tuples(st.sampled_from(["*"]) | span | number, st.integers(1, high - low + 1))
    one = st.one_of(st.just("*"), atom, span, step.map(lambda t: f"{t[0]}/{t[1]}"))
    return st.lists(one, min_size=1, max_size=3).map(",".join)


MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", "5L", "MON#2", "0#5", "FRI#1")
cron_expressions = st.one_of(
    st.sampled_from(["@yearly", "@monthly", "@weekly", "@daily", "@hourly", "* * * * *"]),
    st.tuples(
        st.sampled_from(["", "0 ", "*/15 ", "30 "]),
        _field(0, 59),
        _field(0, 23),
        _field(1, 31, ("L",)) | st.just("*"),
        _field(1, 12, MONTHS) | st.just("*"),
        _field(0, 7, WEEKDAYS) | st.just("*"),
    ).map(lambda f: f[0] + " ".join(f[1:])),
)
instants = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2060, 1, 1), timezones=st.just(UTC)
)


@budget(300)
@given(cron_expressions, st.sampled_from(ZONES), instants)
@example("30 2 * * *", "Europe/Berlin", datetime(2026, 10, 25, 1, 10, tzinfo=UTC))
@example("0 0 * * *", "America/Santiago", datetime(2026, 9, 5, 12, tzinfo=UTC))
def test_fire_times_are_after_their_instant_and_increase(
    expression: str, zone: str, after: datetime
) -> None:
    if check_cron(expression) is not None:
        return  # refused by validate, never scheduled
    schedule = Cron(expression, zone)
    fire = next_fire(schedule, after)
    times = upcoming(schedule, after, 6)
    assert fire is not None, "every accepted expression fires within 50 years"
    assert fire > after
    assert times[0] == fire
    assert all(a < b for a, b in itertools.pairwise(times)), times


@budget(300)
@given(
    st.integers(1, 10**11).map(lambda ms: timedelta(milliseconds=ms)),
    st.datetimes(
        min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    ),
)
@example(timedelta(minutes=15), datetime(2026, 3, 28, 10, 7, tzinfo=UTC))
@example(timedelta(milliseconds=1500), datetime(2199, 12, 31, 23, 59, 59, 999999, tzinfo=UTC))
def test_every_ticks_are_multiples_of_the_interval_since_the_epoch(
    interval: timedelta, after: datetime
) -> None:
    fire = next_fire(Every(interval), after)
    assert fire is not None
    assert fire - interval <= after < fire, "the first tick after, not a later one"
    assert (fire - EPOCH) % interval == timedelta(0)
    times = upcoming(Every(interval), after, 3)
    assert [b - a for a, b in itertools.pairwise(times)] == [interval, interval]


LONGEST_MS = duration.MAX // timedelta(milliseconds=1)


@budget(300)
@given(st.integers(0, LONGEST_MS).map(lambda ms: timedelta(milliseconds=ms)))
@example(timedelta(0))
@example(timedelta(hours=1, minutes=30))
@example(timedelta(days=1, milliseconds=1))
@example(timedelta(days=99_744 % 36_500, seconds=70_230, milliseconds=748))
@example(duration.MAX)
def test_a_formatted_duration_parses_back(delta: timedelta) -> None:
    # Past ~30 years this used to be off by 1 µs: parse summed float seconds.
    assert duration.parse(duration.format(delta)) == delta


def test_a_duration_past_the_longest_is_refused() -> None:
    with pytest.raises(ValueError, match="is longer than"):
        duration.parse(duration.format(duration.MAX + timedelta(milliseconds=1)))


# -- bugs found by fuzzing ---------------------------------------------------


@pytest.mark.parametrize("raw", [b"~\n", b"null\n", b"&anchor\n", b"!!null ''\n"])
def test_a_null_document_is_a_problem(raw: bytes) -> None:
    # `jobrunner validate` used to say "ok" for such a file: config.assemble
    # skipped every document whose data is None, trusting it had problems.
    loaded = load({"null.yaml": raw})
    assert [(p.line, p.severity) for p in loaded.problems] == [(1, "error")]


@pytest.mark.parametrize(
    ("line", "path"),
    [
        ("timeout: 99999999999d", "cron.trial-expiry.timeout"),
        ("starting_deadline: 99999999999999999999", "cron.trial-expiry.starting_deadline"),
        ("jitter: 1e400s", "cron.trial-expiry.jitter"),
    ],
)
def test_huge_durations_are_problems(line: str, path: str) -> None:
    # These used to escape as OverflowError: "internal error" from validate.
    text = VALID.replace("  trial-expiry:\n", f"  trial-expiry:\n    {line}\n")
    loaded = load({"big.yaml": text.encode()})
    where = VALID[: VALID.index("  trial-expiry:")].count("\n") + 2
    assert [(p.line, p.path, p.severity) for p in loaded.problems] == [(where, path, "error")]


DEEP = [
    b"version: 1\nx: " + b"[" * 1000 + b"]" * 1000,  # 2 KB: RecursionError in the builder
    b"version: 1\nx: " + b"[" * 30_000 + b"]" * 30_000,  # 60 KB: libyaml's composer segfaulted
    b"{a: " * 250_000,  # 1 MB: libyaml's scanner is quadratic in the depth (minutes)
    b"- " * 500_000,  # 1 MB of nested block sequences
]


@pytest.mark.parametrize("raw", DEEP, ids=["2KB", "60KB", "flow-1MB", "block-1MB"])
def test_deep_nesting_is_a_problem(raw: bytes) -> None:
    doc = document.parse("deep.yaml", raw)
    assert doc.data is None
    assert len(doc.problems) == 1
    assert_placed(doc.problems, raw)


def test_deep_nesting_does_not_crash_validate(tmp_path: Path) -> None:
    # The segfault took the process down with exit status -11 and no message.
    (tmp_path / "deep.yaml").write_bytes(DEEP[1])
    result = run_cli("validate", str(tmp_path))
    assert result.returncode == 1, result
    assert result.stdout.startswith(f"{tmp_path / 'deep.yaml'}:2:"), result.stdout


def test_a_control_character_is_placed_where_it_is() -> None:
    # Ten two-byte characters before the U+0001 on line 1: libyaml reports
    # the byte offset 24, which read as the 24th character landed on line 3.
    raw = 'x: "éééééééééé\x01"\ny: 1\nz: 2\n'.encode()
    doc = document.parse("ctrl.yaml", raw)
    assert [(p.line, p.column) for p in doc.problems] == [(1, 15)]


@pytest.mark.parametrize("newline", [b"\r", b"\xc2\x85"], ids=["CR", "NEL"])
def test_a_control_character_after_a_carriage_return(newline: bytes) -> None:
    # libyaml counts CR, NEL, LS and PS as line breaks, so every other syntax
    # error in such a file is placed at 2:4; this one lands at 1:9.
    raw = b"a: 1" + newline + b"b: \x01"
    doc = document.parse("ctrl.yaml", raw)
    assert [(p.line, p.column) for p in doc.problems] == [(2, 4)]
