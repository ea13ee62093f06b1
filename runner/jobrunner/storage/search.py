"""Listing and searching jobs: the query, the page, payload matching and the cursor.

A search walks the jobs of one queue (or of every queue) newest first, by creation time
(`Job.created`, the first enqueue; ties by id), and keeps those whose state is one of
`states`, whose creation time is in `[since, until)` and whose payload holds `field`.
Each backend gives `collect` its entries in that order, filtered by queue and time
range only (its index does that much); `collect` does the rest here, the same way for
every backend.

Cost is bounded: one call examines at most `BUDGET` entries, whatever the filters, and
then returns the page it has, short or even empty, with a cursor to continue. A search
for a rare payload value over a million jobs is many cheap calls, never one long one.

The cursor is opaque to callers: the position of the last entry examined (creation time
and id) and a fingerprint of the filters, so a cursor from another search is refused
rather than silently paging through the wrong jobs. Positions are keyset, not offsets:
jobs enqueued while someone pages are newer than the first page and do not shift the
pages that follow, and each job is listed once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from jobrunner.job import Record, State
from jobrunner.storage.stored import is_time

LIMIT = 50  # jobs in a page unless asked
MAX_LIMIT = 500  # the most jobs a page may ask for
BUDGET = 5000  # stored entries one call examines at most
CHUNK = 500  # entries fetched at once while filters reject many
MAX_PATH = 200  # characters of a payload field's path
MAX_CURSOR = 2000  # characters of a cursor
VERSION = "j1"  # the cursor format


class Position(NamedTuple):
    """Where a job sorts: newest first by creation time (epoch seconds), then by id."""

    created: float
    job_id: str


@dataclass(frozen=True, slots=True)
class Match:
    """A payload field and the JSON value it must equal: `("customer", "id")`, `"42"`."""

    path: tuple[str, ...]
    value: Any

    @classmethod
    def parse(cls, path: str, value: Any) -> Match:
        """A match on the dotted `path` (`customer.id`, `items.0.sku`); ValueError if empty."""
        parts = tuple(path.removeprefix("payload.").split("."))
        if not path or len(path) > MAX_PATH or not all(parts):
            raise ValueError(
                f"bad payload field {path[:MAX_PATH]!r}: write a dotted path such as "
                f"customer.id or items.0.sku (at most {MAX_PATH} characters)"
            )
        return cls(parts, value)

    def found(self, payload: Any) -> bool:
        """Whether `payload` holds the value at the path; a list index is a whole number."""
        here = payload
        for part in self.path:
            if isinstance(here, dict) and part in here:
                here = here[part]
            elif isinstance(here, list) and part.isdigit() and int(part) < len(here):
                here = here[int(part)]
            else:
                return False
        return same(here, self.value)


def typed(text: str) -> Any:
    """A value as typed after `PATH=`: JSON when it reads as JSON (`42`, `true`, `"42"`,
    `{"a": 1}`), else the text itself (`ada@example.com`)."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return text


def same(a: Any, b: Any) -> bool:
    """JSON equality: a number equals a number of the same value, never a boolean or a
    string (`42` is not `"42"`, `1` is not `true`); objects and arrays compare deeply."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) or isinstance(b, int | float):
        return isinstance(a, int | float) and isinstance(b, int | float) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(same, a, b))
    return type(a) is type(b) and a == b


def states(names: Iterable[str]) -> frozenset[State]:
    """The states named; ValueError naming the ones there are for a name that is not one."""
    found = set()
    for name in names:
        try:
            found.add(State(name.strip().lower()))
        except ValueError:
            known = ", ".join(s.value for s in State)
            raise ValueError(f"unknown state {name!r}: expected one of {known}") from None
    return frozenset(found)


@dataclass(frozen=True, slots=True)
class Query:
    """Which jobs to list: every filter is optional; times are epoch seconds."""

    queue: str | None = None  # None: every queue
    states: frozenset[State] = frozenset()  # empty: every state
    since: float | None = None  # created at or after
    until: float | None = None  # created before
    match: Match | None = None
    limit: int = LIMIT
    cursor: str | None = None  # from the previous page's `next`

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_LIMIT:
            raise ValueError(f"limit {self.limit} is out of range: ask for 1 to {MAX_LIMIT}")
        for name, value in (("since", self.since), ("until", self.until)):
            if value is not None and not is_time(value):
                raise ValueError(f"{name} {value!r} is not a time in epoch seconds")
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ValueError(f"since ({self.since}) must come before until ({self.until})")
        if self.cursor is not None:
            decode(self.cursor, self)  # refused now, before any storage is read

    @property
    def filtered(self) -> bool:
        """Whether entries may be examined and left out (so fetch more at once)."""
        return bool(self.states) or self.match is not None

    def keeps(self, record: Record) -> bool:
        """Whether `record`, of an entry in the queue and time range, is one to list."""
        return (not self.states or record.state in self.states) and (
            self.match is None or self.match.found(record.job.payload)
        )

    def fingerprint(self) -> str:
        """What identifies the filters (not the limit) in a cursor."""
        match = None if self.match is None else [list(self.match.path), self.match.value]
        states = sorted(s.value for s in self.states)
        filters = [self.queue, states, self.since, self.until, match]
        text = json.dumps(filters, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a search: records newest first, and how to go on."""

    records: tuple[Record, ...] = ()
    next: str | None = None  # the cursor for the next page; None when nothing is left
    examined: int = 0  # stored entries read to build this page


def start(created: Any) -> float:
    """Where a job sorts by its creation time: 0 for a time that does not read."""
    return float(created) if is_time(created) and created > 0 else 0.0


def encode(position: Position, query: Query) -> str:
    data = [position.created, position.job_id, query.fingerprint()]
    raw = json.dumps(data, separators=(",", ":")).encode()
    return f"{VERSION}.{base64.urlsafe_b64encode(raw).decode().rstrip('=')}"


def decode(cursor: str, query: Query) -> Position:
    """The position a cursor names; ValueError saying why it is not one of this search."""
    bad = "bad cursor: pass the `next` value of the previous page unchanged"
    head, dot, body = cursor.partition(".")
    if len(cursor) > MAX_CURSOR or head != VERSION or not dot:
        raise ValueError(bad)
    try:
        data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (ValueError, binascii.Error, RecursionError):
        raise ValueError(bad) from None
    if not (
        isinstance(data, list)
        and len(data) == 3
        and is_time(data[0])
        and isinstance(data[1], str)
        and isinstance(data[2], str)
    ):
        raise ValueError(bad)
    if data[2] != query.fingerprint():
        raise ValueError(
            "this cursor belongs to a search with other filters: page on with the same "
            "queue, states, times and payload field, or start again without a cursor"
        )
    return Position(float(data[0]), data[1])


def passes(query: Query, state: Any, raw: bytes | str | None) -> bool:
    """False when an entry's stored state, or the payload in its stored JSON (`raw`: a
    record, or a message before its first attempt ended), already shows it is not one
    to list, so the backend need not build its record; True when it may be, and when
    they do not read (the record built then says why)."""
    if query.states and isinstance(state, str | bytes):
        try:
            if State(state.decode() if isinstance(state, bytes) else state) not in query.states:
                return False
        except (ValueError, UnicodeDecodeError):
            pass
    if query.match is None or raw is None:
        return True
    try:
        data = json.loads(raw)
        payload = data["job"]["payload"] if "job" in data else data["payload"]
    except (ValueError, TypeError, KeyError, RecursionError):
        return True
    return query.match.found(payload)


Candidate = tuple[Position, Record | None]  # None: the entry names a job that is gone
Fetch = Callable[[Position | None, int], Sequence[Candidate]]


def collect(query: Query, fetch: Fetch) -> Page:
    """A page of `query`, from `fetch(after, n)`: up to n entries of the queue (or of every
    queue) in the time range, older than `after` (every one when None), newest first."""
    budget = BUDGET
    after = decode(query.cursor, query) if query.cursor else None
    found: list[Record] = []
    examined = 0
    while examined < budget:
        want = min(budget - examined, max(query.limit + 1, CHUNK if query.filtered else 0))
        batch = fetch(after, want)
        for n, (position, record) in enumerate(batch, 1):
            examined, after = examined + 1, position
            if record is not None and query.keeps(record):
                found.append(record)
            if len(found) == query.limit:
                more = n < len(batch) or len(batch) == want
                return Page(tuple(found), encode(after, query) if more else None, examined)
        if len(batch) < want:
            return Page(tuple(found), None, examined)
    return Page(tuple(found), None if after is None else encode(after, query), examined)
