"""One lock per key, so work on one code package never waits for work on another."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class KeyedLocks:
    """Thread locks created on first use and dropped once nobody holds or waits for them.

    Example::

        locks = KeyedLocks()
        with locks.hold(digest):   # other digests proceed meanwhile
            unpack(...)
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()  # only around the table, never while working
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.get(key, (threading.Lock(), 0))
            self._locks[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, users = self._locks[key]
                if users == 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)
