"""The warm pool: instances per function configuration, keep-alive, instance caps.

Every function configuration (function id + ETag + service ETag) has its own
:class:`FunctionPool`. Updating a function changes its key: new requests go to a
new pool, the old one is retired (idle instances stop now, busy ones when their
request finishes).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass

from fcompute.errors import ResourceExhausted
from fcompute.pool.factory import InstanceFactory, LaunchSpec
from fcompute.pool.instance import Instance, InstanceState, StartInfo

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PoolLimits:
    max_instances: int
    wait_seconds: float
    keep_alive_seconds: float


class FunctionPool:
    def __init__(self, launch: LaunchSpec, factory: InstanceFactory, limits: PoolLimits) -> None:
        self.launch = launch
        self._factory = factory
        self._limits = limits
        self.idle: list[Instance] = []  # LIFO: the most recently used stays warm, others expire
        self.size = 0  # live instances: starting, idle and busy
        self.busy: set[Instance] = set()
        self._waiters: deque[asyncio.Future[Instance | None]] = deque()
        self.retired = False

    async def acquire(self, request_id: str) -> tuple[Instance, StartInfo | None]:
        deadline: float | None = None
        while True:
            while self.idle:
                instance = self.idle.pop()
                if instance.alive:
                    self._mark_busy(instance)
                    return instance, None
                self._discard(instance)
            if self.size < self._limits.max_instances:
                return await self._start(request_id)
            loop = asyncio.get_running_loop()
            if deadline is None:
                deadline = loop.time() + self._limits.wait_seconds
            handed = await self._wait_for_release(deadline)
            if handed is not None:
                self._mark_busy(handed)
                return handed, None

    async def _wait_for_release(self, deadline: float) -> Instance | None:
        """Waits until ``release`` hands over an instance or frees a slot (None).

        A waiter is answered exactly once, and what it was handed is never dropped: when the
        deadline or a cancellation wins the race against a release that already answered it,
        what was handed over at the deadline is used (the request waited its full time for
        it), and what was handed to a cancelled request passes on to the next waiter or the
        idle list.
        """
        waiter: asyncio.Future[Instance | None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout_at(deadline):
                return await waiter
        except TimeoutError:
            if waiter.done() and not waiter.cancelled():
                return waiter.result()  # answered just as time ran out: take it
            self._pass_on(waiter)
            raise ResourceExhausted(
                f"all {self._limits.max_instances} instances of the function stayed busy for "
                f"{self._limits.wait_seconds:g} s; retry later or raise the instance limit"
            ) from None
        except BaseException:
            self._pass_on(waiter)
            raise
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def _pass_on(self, waiter: asyncio.Future[Instance | None]) -> None:
        """A waiter that gives up hands what it was answered with to the next one."""
        if not waiter.done():
            waiter.cancel()
            return
        if waiter.cancelled():
            return
        handed = waiter.result()
        if handed is None:
            self._wake(None)
        else:
            self._offer(handed)

    async def _start(self, request_id: str) -> tuple[Instance, StartInfo]:
        self.size += 1
        try:
            instance, info = await self._factory.start(self.launch, request_id)
        except BaseException:
            self.size -= 1
            self._wake(None)
            raise
        self._mark_busy(instance)
        return instance, info

    def _mark_busy(self, instance: Instance) -> None:
        instance.state = InstanceState.BUSY
        self.busy.add(instance)

    def release(self, instance: Instance, healthy: bool = True) -> None:
        instance.last_used = time.monotonic()
        instance.invocations += 1
        self.busy.discard(instance)
        if healthy:
            self._offer(instance)
        else:
            self._discard(instance)

    def _offer(self, instance: Instance) -> None:
        """An idle instance goes to the longest waiter, or to the idle list."""
        instance.state = InstanceState.IDLE
        if self.retired or not instance.alive:
            self._discard(instance)
        elif not self._wake(instance):
            self.idle.append(instance)

    def _wake(self, value: Instance | None) -> bool:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(value)
                return True
        return False

    def _discard(self, instance: Instance) -> None:
        if instance.state is not InstanceState.DEAD:
            instance.kill()
        self.size -= 1
        self._wake(None)

    def reap(self, now: float) -> int:
        """Stops idle instances past keep-alive; returns how many stopped."""
        keep = [i for i in self.idle if now - i.last_used < self._limits.keep_alive_seconds
                and i.alive and not self.retired]
        stopped = [i for i in self.idle if i not in keep]
        self.idle = keep
        for instance in stopped:
            self._discard(instance)
        return len(stopped)

    def retire(self) -> None:
        self.retired = True
        self.reap(time.monotonic())

    def close(self) -> None:
        self.retire()
        for instance in list(self.busy):
            instance.kill()


class InstancePool:
    """All function pools, the keep-alive reaper, and retirement on configuration change.

    Pools come in groups (``Resolved.pool_group``: one function run as one version
    through one qualifier): a new pool in a group retires the one before it, as when
    LATEST changes; a version's group never gets a new pool, it is retired when the
    version is deleted.
    """

    def __init__(self, factory: InstanceFactory, limits: PoolLimits) -> None:
        self._factory = factory
        self._limits = limits
        self._pools: dict[str, FunctionPool] = {}
        self._current: dict[str, str] = {}  # pool group -> key of its current pool
        self._reaper: asyncio.Task[None] | None = None

    def get(self, function_key: str) -> FunctionPool | None:
        return self._pools.get(function_key)

    def create(self, group: str, launch: LaunchSpec) -> FunctionPool:
        pool = self._pools.get(launch.function_key)
        if pool is not None:
            return pool
        pool = self._pools[launch.function_key] = FunctionPool(launch, self._factory, self._limits)
        previous = self._current.get(group)
        if previous is not None and previous in self._pools:
            self._pools[previous].retire()
        self._current[group] = launch.function_key
        return pool

    def retire_groups(self, prefix: str) -> int:
        """Retires the current pool of every group whose name starts with ``prefix``
        (idle instances stop now, busy ones after their request); returns how many."""
        groups = [group for group in self._current if group.startswith(prefix)]
        for group in groups:
            key = self._current.pop(group)
            if key in self._pools:
                self._pools[key].retire()
        return len(groups)

    def start_reaper(self) -> None:
        interval = max(0.05, min(1.0, self._limits.keep_alive_seconds / 4))

        async def reap_forever() -> None:
            while True:
                await asyncio.sleep(interval)
                try:
                    self.reap()
                except Exception:
                    log.exception("keep-alive reaper failed")

        self._reaper = asyncio.get_running_loop().create_task(reap_forever())

    def reap(self) -> None:
        now = time.monotonic()
        for key, pool in list(self._pools.items()):
            pool.reap(now)
            if pool.retired and pool.size == 0:
                del self._pools[key]

    def stats(self) -> dict[str, dict[str, int]]:
        return {key: {"size": p.size, "idle": len(p.idle)} for key, p in self._pools.items()}

    def code_digests_in_use(self) -> set[str]:
        """Code packages that a pool still runs or may start (retired pools included until
        their last instance ends): the code store must keep these extracted."""
        return {pool.launch.code_digest for pool in self._pools.values()}

    def instance_count(self) -> int:
        return sum(pool.size for pool in self._pools.values())

    async def close(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
        for pool in self._pools.values():
            pool.close()
