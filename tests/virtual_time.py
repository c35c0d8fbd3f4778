"""An asyncio event loop on a virtual clock.

The clock jumps to the next timer when every task waits, and moves on by a small random
step for each loop iteration that runs callbacks, as real time passes while code runs. Pool
tests thus play many simulated seconds of arrivals, timeouts and keep-alive in
milliseconds, and a deadline can fall due in the very iteration in which another task
releases what the waiter waits for: the race between a release and a deadline.
"""

from __future__ import annotations

import asyncio
import random
import selectors
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class _JumpingSelector(selectors.DefaultSelector):
    """Instead of sleeping until the next timer, moves the clock there."""

    def __init__(self, quantum: float, seed: int) -> None:
        super().__init__()
        self.now = 0.0
        self.quantum = quantum
        self._random = random.Random(seed)

    def select(
        self, timeout: float | None = None
    ) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None:
            raise RuntimeError("deadlock: every task waits and no timer is pending")
        self.now += timeout or self._random.uniform(0, 2 * self.quantum)
        return super().select(0)


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self, quantum: float = 0.001, seed: int = 0) -> None:
        self._clock = _JumpingSelector(quantum, seed)
        super().__init__(self._clock)

    def time(self) -> float:
        return self._clock.now


def run_virtual(main: Coroutine[Any, Any, T], seed: int = 0) -> T:
    loop = VirtualTimeLoop(seed=seed)
    try:
        return loop.run_until_complete(main)
    finally:
        loop.close()
