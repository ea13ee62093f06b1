"""Which Redis queues were signalled, without holding a pooled connection to wait.

One thread per storage listens on the pattern `jr:*:wake` (the scripts
publish there when a queue's ready set stops being empty, or a new earliest
scheduled job appears). A daemon's listener (worker/feed.py) asks which queues
were signalled since a moment (`moment`, `woken`): each signal takes the next
number of one counter and is noted against its queue, so "since" is a number,
however many queues there are.

On a Redis Cluster the channels are classic (not sharded) pub/sub: every node forwards
a PUBLISH to all the others, so one subscription on any node hears every queue. Behind
Sentinel, a lost subscription is made again on whichever server is primary then.

The thread waits for a message up to LISTEN_WAIT at a time, so an idle daemon's
listener wakes once in that long. `close` does not wait that out: the thread listens on
a channel of its own too, and `close` publishes there.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from collections.abc import Collection, Mapping
from typing import Any

import redis
from redis.exceptions import RedisClusterException

WAKE_PATTERN = "jr:*:wake"
# The longest the listener waits for a message before it looks at close() again (close
# publishes on its own channel, so it does not wait that long unless Redis is unreachable).
LISTEN_WAIT = 5.0
CLOSE_WAIT = 1.0  # the longest close() waits for the listener to end


class WakeRelay:
    """Notes the signals of every queue's wake channel, for `woken` to answer from. After a
    (re)subscription every queue counts as signalled: messages may have been missed."""

    def __init__(self, client: redis.Redis | redis.RedisCluster) -> None:
        self._client = client
        self._changed = threading.Condition()
        self._signals = 0  # every signal noted so far; the latest per queue in _last
        self._last: dict[str, int] = {}
        self._everyone = 0  # the signal number of the last (re)subscription or wake()
        self._subscribed = threading.Event()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self._own = f"jr:relay:{secrets.token_hex(8)}"  # close() publishes here

    def subscribe(self, timeout: float) -> bool:
        """Start (once) the listening thread; True once it is subscribed."""
        with self._changed:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._listen, name="jobrunner-redis-wake", daemon=True
                )
                self._thread.start()
            everyone = self._everyone
            self._changed.wait_for(
                lambda: self._subscribed.is_set() or self._everyone != everyone, timeout
            )
            return self._subscribed.is_set() and not self._closed.is_set()

    def moment(self) -> int:
        """Where the signals stand: take it before looking for jobs, then ask `woken`."""
        with self._changed:
            return self._signals

    def woken(self, since: int, queues: Collection[str], timeout: float) -> tuple[int, set[str]]:
        """The queues of `queues` signalled after `since`, waiting up to `timeout` for one
        (every one of them after a (re)subscription, when messages may have been missed, or
        `wake()`; none on timeout or close), and the moment the answer goes up to."""

        def signalled() -> set[str]:
            if self._signals <= since:  # no signal at all: the usual answer of an idle wait
                return set()
            if self._everyone > since:
                return set(queues)
            return {q for q in queues if self._last.get(q, 0) > since}

        with self._changed:
            found = signalled()
            if not found and timeout > 0 and not self._closed.is_set():
                self._changed.wait_for(lambda: self._closed.is_set() or bool(signalled()), timeout)
                found = signalled()
            return self._signals, found

    def wake(self) -> None:
        with self._changed:
            self._signals += 1
            self._everyone = self._signals
            self._changed.notify_all()

    def close(self) -> None:
        self._closed.set()
        self.wake()
        if self._thread is None or not self._thread.is_alive():
            return
        # End the listener's wait now, from a thread of its own: an unreachable Redis may
        # hold the message for seconds, and close() waits CLOSE_WAIT at most all the same.
        # The ringer is waited for too (within the same bound): the storage closes the client
        # next, and a publish still under way then fails inside redis-py on its thread.
        deadline = time.monotonic() + CLOSE_WAIT
        ringer = threading.Thread(target=self._ring, name="jobrunner-redis-wake-close", daemon=True)
        ringer.start()
        self._thread.join(timeout=CLOSE_WAIT)
        ringer.join(timeout=max(0.0, deadline - time.monotonic()))

    def _ring(self) -> None:
        with contextlib.suppress(redis.RedisError, RedisClusterException, OSError):
            self._client.publish(self._own, "close")

    def _listen(self) -> None:
        pubsub = self._client.pubsub()  # type: ignore[no-untyped-call,unused-ignore]  # typed from redis-py 7
        backoff = 0.1
        while not self._closed.is_set():
            try:
                if not pubsub.subscribed:
                    pubsub.subscribe(self._own)
                    pubsub.psubscribe(WAKE_PATTERN)
                message = pubsub.get_message(timeout=LISTEN_WAIT)
            except (redis.RedisError, RedisClusterException, OSError):
                self._subscribed.clear()
                self._closed.wait(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = 0.1
            if message:
                self._note(message)
        pubsub.close()

    def _note(self, message: Mapping[str, Any]) -> None:
        with self._changed:
            if message["type"] == "psubscribe":
                self._subscribed.set()
                self._signals += 1
                self._everyone = self._signals
            elif message["type"] == "pmessage":
                channel = message["channel"]
                if isinstance(channel, bytes):
                    channel = channel.decode("utf-8", "surrogateescape")
                queue = channel[len("jr:{") : -len("}:wake")]
                self._signals += 1
                self._last[queue] = self._signals
            self._changed.notify_all()
