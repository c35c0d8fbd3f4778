"""How many async invocations of one function may hold an instance at the same time.

The dispatcher claims a few more jobs per function than this, so claiming and
recording outcomes (each a disk write) overlap with running; the gate makes sure only
``limit`` of them are inside the instance pool at once (see
``policy.async_instance_share``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class InstanceGate:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._gates: dict[str, asyncio.Semaphore] = {}
        self._users: dict[str, int] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        gate = self._gates.get(key)
        if gate is None:
            gate = self._gates[key] = asyncio.Semaphore(self.limit)
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with gate:
                yield
        finally:
            self._users[key] -= 1
            if not self._users[key]:  # forget idle functions: the map stays small
                del self._users[key]
                del self._gates[key]
