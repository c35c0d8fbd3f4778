"""The open connections, and which of them to give up when a new one arrives at the cap.

A connection is in one of three standings:

- *waiting for a head*: it opened, or began its next request, and its request head is not
  complete yet. A slowloris connection stays here until its head deadline; a legitimate
  client passes through in the time its head takes to arrive (usually one packet).
- *resting*: a keep-alive connection between requests, with nothing of the next one yet.
- *working*: a request is being received, handled or answered. Never evicted.

At the cap a new connection takes the place of the one that has been waiting for a head the
longest, else of the one resting the longest; when every connection is working, the new
one is refused. A flood of connections that never complete a head therefore mostly evicts
itself, oldest first, while clients that send complete requests keep their connections.

Each change of standing is one O(1) operation on an ordered dict, two per keep-alive request.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, Protocol, TypeVar


class Evictable(Protocol):
    def evict(self) -> None:
        """Closes the connection to make room; the table has already forgotten it."""


C = TypeVar("C", bound=Evictable)


class ConnectionTable(Generic[C]):
    """Counts open connections against ``capacity`` and orders the evictable ones.

    ``waiting`` and ``resting`` hold the connections of those standings, oldest first (a
    dict's insertion order): the protocol moves its connection in and out of them itself,
    ``standing[connection] = None`` to join at the back and ``standing.pop(connection,
    None)`` to leave, because it does so on every request and a method call would cost
    more than the operation.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, not {capacity}")
        self.capacity = capacity
        self.open = 0  # admitted and not yet released, evicted ones included until they go
        self.evicted = 0
        self.refused = 0
        self.waiting: OrderedDict[C, None] = OrderedDict()
        self.resting: OrderedDict[C, None] = OrderedDict()

    def admit(self, connection: C) -> bool:
        """Takes a new connection, as waiting for its first head; False to refuse it.

        At the cap, the connection that has waited longest for a head (else rested longest)
        is evicted to make room.
        """
        if self.open >= self.capacity:
            victim = self._oldest()
            if victim is None:
                self.refused += 1
                return False
            self.evicted += 1
            victim.evict()
        self.open += 1
        self.waiting[connection] = None
        return True

    def release(self, connection: C) -> None:
        """An admitted connection closed, in whatever standing."""
        self.waiting.pop(connection, None)
        self.resting.pop(connection, None)
        self.open -= 1

    def _oldest(self) -> C | None:
        for standing in (self.waiting, self.resting):
            if standing:
                victim, _ = standing.popitem(last=False)
                return victim
        return None
