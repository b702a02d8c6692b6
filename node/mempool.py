"""The bounded mempool: admitted events waiting for a block.

Plain data structure, no I/O.  Events are kept in arrival order; a full pool
refuses new events (the API turns that into HTTP 503 with Retry-After) rather
than dropping ones it already accepted.  Every event in the pool has had its
signature verified for this network, so block building need not check it again.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from client.events import SignedEvent
from client.hashes import Hash
from node.errors import MempoolFull


class Mempool:
    def __init__(self, max_events: int) -> None:
        assert max_events > 0
        self.max_events = max_events
        self._events: OrderedDict[Hash, SignedEvent] = OrderedDict()

    def __len__(self) -> int:
        return len(self._events)

    def __contains__(self, event_hash: object) -> bool:
        return event_hash in self._events

    def get(self, event_hash: Hash) -> SignedEvent | None:
        return self._events.get(event_hash)

    def has_room(self, count: int = 1) -> bool:
        return len(self._events) + count <= self.max_events

    def add(self, event: SignedEvent) -> bool:
        """Add a signature-checked event; False if it is already pending.

        Raises :class:`MempoolFull` when the pool is at capacity.
        """
        if event.hash in self._events:
            return False
        if len(self._events) >= self.max_events:
            raise MempoolFull(
                f"the mempool holds {self.max_events} pending events; retry shortly",
                retry_after=1,
            )
        self._events[event.hash] = event
        return True

    def peek(self, limit: int) -> list[SignedEvent]:
        """The oldest ``limit`` pending events, in arrival order, left in the pool."""
        result: list[SignedEvent] = []
        for event in self._events.values():
            if len(result) >= limit:
                break
            result.append(event)
        return result

    def remove(self, event_hashes: Iterable[Hash]) -> None:
        for event_hash in event_hashes:
            self._events.pop(event_hash, None)

    def hashes(self) -> set[Hash]:
        return set(self._events)
