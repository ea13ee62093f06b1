"""Whether any of the same keys of many queues exists, asked with one command packed once.

An idle daemon asks this every few seconds of each of its queues' pause, lease, ready
and scheduled keys (`Registry._none_exist`, registry.py): with a thousand queues, an EXISTS of
two thousand keys, whose arguments redis-py checks and encodes one by one at about a
microsecond each, more than Redis takes to answer it. Here the command is packed once
for a list of queues and key names and sent as it is while they stay the same, through
the client's own pool and with its own retry on a lost connection (packed.py).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from jobrunner.storage.redis.keys import encoded, prefix
from jobrunner.storage.redis.packed import Packed, pack

KEPT = 8  # packed commands kept: a daemon makes six kinds of look, each of its own queues

_Look = tuple[tuple[str, ...], tuple[str, ...]]  # (queues, names)


class ExistsLooks:
    def __init__(self, packed: Packed) -> None:
        self._send = packed
        self._packed: dict[_Look, list[bytes]] = {}
        self._lock = threading.Lock()

    def count(self, queues: Sequence[str], names: Sequence[str]) -> int:
        """How many of the keys `names` of each of `queues` exist (`jr:{queue}:name`)."""
        return int(self._send.call(self._pack((tuple(queues), tuple(names)))))

    def _pack(self, look: _Look) -> list[bytes]:
        with self._lock:
            packed = self._packed.get(look)
            if packed is None:
                while len(self._packed) >= KEPT:
                    del self._packed[next(iter(self._packed))]  # the oldest
                queues, names = look
                keys = [encoded(prefix(queue) + name) for queue in queues for name in names]
                packed = self._packed[look] = pack(b"EXISTS", *keys)
            return packed
