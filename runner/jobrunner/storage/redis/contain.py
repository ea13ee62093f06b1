"""Running the Lua scripts on queues, with stray keys contained per queue.

A script that finds a key of the wrong type (a stray writer's) fails before it writes.
A key the queue can do without, or rebuild (a job hash, an owner set, an idempotency
key, the rate log, the listing index; jr:queues and jr:daemons), is set aside under a
`corrupt` name with the reason (a job is dead-lettered saying so) and the call is made
again; any other key marks only that queue broken: its calls lease nothing and settle
nothing, `stats` gives the reason, every other queue is served, and the daemon logs it
once, and once more when it reads again.

`Containment` is the part of RedisStorage that does this; the store's operations call
`_each`, `_one` and `_per_queue`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import redis
from redis.cluster import RedisCluster
from redis.commands.core import Script

from jobrunner.job import DEAD_LETTER_RETAIN, Job, Record, State
from jobrunner.logs import event
from jobrunner.storage.base import StorageError
from jobrunner.storage.redis.connect import Client, Durability, scrub
from jobrunner.storage.redis.keys import (
    COUNTER,
    SPARE,
    QueueBroken,
    bad_data,
    kind,
    ms,
    prefix,
    queue_args,
    queue_keys,
    wrong_key,
)
from jobrunner.storage.redis.packed import Packed, pack
from jobrunner.storage.redis.replies import text
from jobrunner.storage.redis.scripts import Scripts

ASIDE_ROUNDS = 32  # stray keys one call sets aside before it gives up until the next call
ASIDE_KEEP = DEAD_LETTER_RETAIN.total_seconds()  # how long a key set aside is kept
Call = tuple[Script, list[Any], list[Any]]  # a script, its keys and its arguments


class Containment:
    """Script calls on queues, and what they do about stray keys (RedisStorage's base)."""

    url: str  # redacted
    _client: Client
    _durability: Durability
    _lua: Scripts
    _packed: Packed | None  # None: a cluster client, which routes each command itself
    _raw_url: str
    _broken: dict[str, tuple[str, bytes | None, str]]  # queue -> reason, key, want

    def _set_shared_aside(self, key: str, want: str) -> None:
        """A shared index (jr:queues, jr:daemons) of the wrong type goes to jr:corrupt:{KEY}.

        The name shares the key's cluster slot; the index is rebuilt by its writers.
        """
        got = text(self._client.type(key))
        if got in (want, "none"):
            return
        aside = f"jr:corrupt:{{{key}}}"
        try:
            self._client.rename(key, aside)
        except redis.ResponseError:
            return  # another daemon was first
        self._client.pexpire(aside, ms(ASIDE_KEEP))
        event(
            logging.ERROR,
            "stray key set aside: it will be rebuilt",
            key=key,
            reason=f"{key} held {kind(got)}, not {kind(want)}; kept as {aside}",
        )

    def _batch(self, calls: Sequence[Call]) -> list[Any]:
        """Run scripts in one pipelined round trip; the replies in order, an error as its reply.

        Raw EVALSHA: redis-py's pipelined scripts ask SCRIPT EXISTS first, every time. With
        `durability=replicated`, a batch that writes ends with WAIT (`_confirm`), and too few
        replicas for a round that ran something is a StorageError once the batch is done.
        """
        replies: list[Any] = [None] * len(calls)
        todo = list(range(len(calls)))
        lua = self._lua  # scripts that only read (`jobs` drops dangling listing entries),
        # and `lease`: a lease a failover loses only delivers its job again, while one
        # refused for want of replicas would stay on the primary, held by a caller that
        # never saw it (renewed by its heartbeat until it stops)
        waits = bool(self._durability.replicas) and any(
            script not in (lua.stats, lua.history, lua.expired, lua.jobs, lua.lease)
            for script, _, _ in calls
        )
        if len(calls) == 1 and not waits:
            return [self._single(calls[0])]
        unconfirmed = ""
        for loaded in (False, True):
            pipe = self._client.pipeline(transaction=False)
            for i in todo:
                script, keys, args = calls[i]
                pipe.evalsha(script.sha, len(keys), *keys, *args)
            got, short = self._confirm(pipe, waits)
            if any(not isinstance(reply, redis.exceptions.NoScriptError) for reply in got):
                unconfirmed = unconfirmed or short
            for i, reply in zip(todo, got, strict=True):
                replies[i] = reply
            todo = [i for i in todo if isinstance(replies[i], redis.exceptions.NoScriptError)]
            if not todo:
                break
            if loaded:
                raise replies[todo[0]]
            for i in todo:  # a restarted server or SCRIPT FLUSH
                self._client.script_load(calls[i][0].script)
        if unconfirmed:
            raise StorageError(unconfirmed)
        return replies

    def _single(self, call: Call) -> Any:
        """One script call without a pipeline, which would cost the client half as much
        CPU again as the call itself, and packed at once where the client allows
        (packed.py): its reply, an error as its reply."""
        script, keys, args = call

        def run() -> Any:
            try:
                if self._packed is None:
                    return self._client.evalsha(script.sha, len(keys), *keys, *args)
                return self._packed.call(pack(b"EVALSHA", script.sha, len(keys), *keys, *args))
            except redis.ResponseError as exc:
                return exc

        reply = run()
        if isinstance(reply, redis.exceptions.NoScriptError):
            self._client.script_load(script.script)  # a restarted server or SCRIPT FLUSH
            reply = run()
            if isinstance(reply, redis.exceptions.NoScriptError):
                raise reply
        return reply

    def _timed(self, build: Callable[[Any], Any]) -> tuple[float, list[Any]]:
        """The server's time, and the replies (errors as replies) of the commands `build`
        adds to a pipeline: one round trip on one server; on a cluster, whose pipelines
        take no keyless command, TIME is asked of one node on its own."""
        clustered = isinstance(self._client, RedisCluster)
        pipe = self._client.pipeline(transaction=False)
        if not clustered:
            pipe.time()
        build(pipe)
        replies = list(pipe.execute(raise_on_error=False))
        seconds, micros = self._client.time() if clustered else replies.pop(0)
        return seconds + micros / 1e6, replies

    def _write(self, build: Callable[[Any], Any]) -> list[Any]:
        """Commands `build` adds to a pipeline, sent in one round trip, with WAIT when the
        URL asks for `durability=replicated`; their replies (an error is raised)."""
        pipe = self._client.pipeline(transaction=False)
        build(pipe)
        replies, unconfirmed = self._confirm(pipe, True)
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        if unconfirmed:
            raise StorageError(unconfirmed)
        return replies

    def _confirm(self, pipe: Any, writes: bool) -> tuple[list[Any], str]:
        """Execute `pipe`, followed by WAIT on its connection when its writes must reach
        replicas first: the replies, and why the writes are unconfirmed when too few
        replicas confirm in time (they are on the primary, and a failover may lose them)."""
        wanted, timeout = self._durability.replicas, self._durability.timeout_ms
        if not (writes and wanted):
            return list(pipe.execute(raise_on_error=False)), ""
        pipe.execute_command("WAIT", wanted, timeout)
        *replies, acked = pipe.execute(raise_on_error=False)
        if isinstance(acked, Exception):
            raise acked
        if int(acked) >= wanted:
            return list(replies), ""
        return list(replies), (
            f"only {acked} of {wanted} replica(s) of {self.url} confirmed a write within "
            f"{timeout}ms (durability=replicated): it is on the primary, but a failover "
            "may lose it; retry (an enqueue is safe to retry with an idempotency key)"
        )

    def _each(self, calls: Mapping[str, Call]) -> dict[str, Any]:
        """Run one script call per queue in a pipelined round trip: per queue its reply, or
        the `QueueBroken` saying why it has none.

        A stray key the queue can do without is set aside and the call made again; an
        error that is not about what a key holds (out of memory, a read-only replica) is
        raised, as the storage's own trouble.
        """
        results: dict[str, Any] = {}
        pending = dict(calls)
        for _ in range(ASIDE_ROUNDS):
            again = {}
            for (queue, call), reply in zip(
                pending.items(), self._batch(list(pending.values())), strict=True
            ):
                if not isinstance(reply, redis.ResponseError):
                    results[queue] = reply
                    continue
                if not bad_data(reply):
                    raise reply
                try:
                    self._contain(queue, reply)
                    again[queue] = call
                except QueueBroken as exc:
                    results[queue] = exc
            pending = again
            if not pending:
                break
        for queue in pending:
            results[queue] = QueueBroken(queue, "more stray keys than one call sets aside")
        for queue, result in results.items():
            if isinstance(result, QueueBroken):
                self._note_broken(result)
            elif queue in self._broken:
                self._maybe_mended(queue)
        return results

    def _one(self, queue: str, script: Script, keys: list[Any], args: list[Any]) -> Any:
        """One script call on one queue; `QueueBroken` when the queue cannot take it."""
        result = self._each({queue: (script, keys, args)})[queue]
        if isinstance(result, QueueBroken):
            raise result
        return result

    def _per_queue(self, script: Script, queues: Sequence[str], *args: Any) -> dict[str, Any]:
        """Run `script` on each queue in one pipelined round trip; per queue its reply."""
        return self._each({q: (script, queue_keys(q), [prefix(q), *args]) for q in queues})

    def _contain(self, queue: str, exc: redis.ResponseError) -> None:
        """Set aside the stray key `exc` names, if the queue can do without it; otherwise
        raise `QueueBroken` saying which key holds what."""
        wrong = wrong_key(exc)
        if wrong is None:
            raise QueueBroken(queue, scrub(str(exc), self._raw_url))
        key, want, got = wrong
        head = queue_args(queue)[0]
        name = key[len(head) :] if key.startswith(head) else b""
        if name.startswith(SPARE) and want != "counter":
            self._set_aside(queue, key, name, want, got)
            return
        reason = (
            f"{text(key)} holds {kind(got)}, not {kind(want)} as jobrunner keeps there "
            "(written by something else?): the queue waits until that key is repaired "
            "or deleted (docs/security.md)"
        )
        raise QueueBroken(queue, reason, key, want)

    def _set_aside(self, queue: str, key: bytes, name: bytes, want: str, got: str) -> None:
        p = prefix(queue)
        aside = f"{p}corrupt:{text(name)}"
        why = f"{text(key)} held {kind(got)}, not {kind(want)}: set aside as {aside}"
        args: list[Any] = [p, name, want, why, ms(ASIDE_KEEP)]
        if name.startswith(b"job:"):
            job_id = text(name[len(b"job:") :])
            stray = Job(id=job_id, queue=queue, payload=f"(the job's key held {kind(got)})")
            dead = Record(stray, State.DEAD, reason=why, updated=time.time())
            args += [name[len(b"job:") :], dead.encode(), repr(dead.updated)]
        else:
            args += ["", "", ""]
        [reply] = self._batch([(self._lua.aside, [*queue_keys(queue), key], args)])
        if isinstance(reply, redis.ResponseError):
            if not bad_data(reply):
                raise reply
            self._contain(queue, reply)  # a key aside.lua needs is itself broken
            return
        if int(reply):
            event(logging.ERROR, "stray key set aside", queue=queue, key=text(key), reason=why)

    def _sound(self, key: bytes, want: str) -> bool:
        """Whether `key` holds what it should now (or nothing), as the scripts' check says."""
        got = text(self._client.type(key))
        if want != "counter":
            return got in (want, "none")
        if got != "string":
            return got == "none"
        value = self._client.get(key)
        return isinstance(value, bytes) and COUNTER.fullmatch(value) is not None

    def _note_broken(self, broken: QueueBroken) -> None:
        """Log once that a queue is broken (again, when the reason changes)."""
        queue = broken.queue
        if queue in self._broken and self._broken[queue][0] == broken.reason:
            return
        self._broken[queue] = (broken.reason, broken.key, broken.want)
        event(
            logging.ERROR,
            "queue broken in storage: its jobs wait, the other queues are served",
            queue=queue,
            reason=broken.reason,
        )

    def _maybe_mended(self, queue: str) -> None:
        """A call on a broken queue went through: log once the queue works again, if so."""
        _, key, want = self._broken[queue]
        if key is not None and not self._sound(key, want):
            return
        del self._broken[queue]
        event(logging.INFO, "queue readable again", queue=queue)
