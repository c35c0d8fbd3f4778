"""Drains the async queue: claims due jobs within limits and runs each as a task.

Limits (see ``policy.async_instance_share`` and docs/async.md):

- at most ``per_function`` jobs of one function run at once, so synchronous callers
  always find instances of their own;
- at most ``max_in_flight`` jobs run at once in all (deliveries included).

Wake-ups come from the queue (new or retried jobs), from finished tasks (room freed),
and from a timer set to the next retry that is due.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Protocol

from fcompute.asyncinvoke import policy
from fcompute.asyncinvoke.queue import DELIVERY_KEY, AsyncQueue, Job, Settlement, now_ms
from fcompute.asyncinvoke.records import AttemptStatus, Status

log = logging.getLogger(__name__)


class Runner(Protocol):
    async def run(self, job: Job) -> Settlement: ...


@dataclass(frozen=True)
class DispatchLimits:
    per_function: int
    max_in_flight: int = 64
    claim_batch: int = 64
    # A lease outlives its renewal period many times over: a busy event loop must not
    # lose jobs to another process. Renewals keep long invocations leased.
    lease_ms: int = 300_000
    renew_every_s: float = 60.0
    # Upper bound on a sleep, so leases that ran out elsewhere are noticed.
    idle_poll_s: float = 1.0
    # On shutdown, running jobs get this long to finish; the rest are recovered at start.
    drain_s: float = 2.0
    # Finished records are kept this long, then deleted in batches.
    retention_ms: int = 7 * 86400 * 1000
    purge_every_s: float = 600.0


class Dispatcher:
    def __init__(self, queue: AsyncQueue, runner: Runner, limits: DispatchLimits) -> None:
        self._queue = queue
        self._runner = runner
        self.limits = limits
        self._running: dict[str, tuple[Job, asyncio.Task[None]]] = {}
        self._per_key: Counter[str] = Counter()
        self._wake: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False

    @property
    def in_flight(self) -> int:
        return len(self._running)

    async def start(self) -> None:
        self._wake = asyncio.Event()
        recovered = await self._queue.recover()
        if recovered:
            log.warning("async queue: %d invocation(s) were running when the platform stopped; "
                        "they run again", len(recovered))
        self._queue.subscribe(self.poke)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._dispatch_forever(), name="async-dispatch"),
                       loop.create_task(self._renew_forever(), name="async-lease-renewal"),
                       loop.create_task(self._purge_forever(), name="async-retention")]

    def poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def cancel(self, job_id: str) -> bool:
        """Cancels a running job of this process (it was stopped); its instance is killed."""
        entry = self._running.get(job_id)
        if entry is None:
            return False
        entry[1].cancel()
        return True

    async def close(self) -> None:
        self._closing = True
        self.poke()
        # The dispatch loop (the first task) is not cancelled but left to finish its claim:
        # a claim cut off would lease jobs no task runs, and they would wait for the next
        # start. The other loops only sleep between rounds.
        if self._tasks:
            await self._tasks[0]
        for task in self._tasks[1:]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        running = [task for _, task in self._running.values()]
        if running:
            _done, late = await asyncio.wait(running, timeout=self.limits.drain_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    # dispatching -----------------------------------------------------------

    def _room(self) -> dict[str, int]:
        per_function = self.limits.per_function
        return {key: per_function - count for key, count in self._per_key.items()
                if key != DELIVERY_KEY}

    async def _claim_all(self) -> None:
        """Claims until a claim comes back short (nothing more is due, or no room)."""
        while not self._closing:
            free = self.limits.max_in_flight - len(self._running)
            if free <= 0:
                return
            wanted = min(free, self.limits.claim_batch)
            jobs = await self._queue.claim(
                limit=wanted, room=self._room(), default_room=self.limits.per_function,
                lease_ms=self.limits.lease_ms,
            )
            for job in jobs:
                self._spawn(job)
            if len(jobs) < wanted:
                return

    async def _dispatch_forever(self) -> None:
        assert self._wake is not None
        while not self._closing:
            self._wake.clear()
            try:
                await self._claim_all()
                if self._closing:
                    return
                timeout = await self._idle_timeout()
            except Exception:
                log.exception("async queue: dispatching failed; trying again shortly")
                timeout = self.limits.idle_poll_s
            if timeout > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)

    async def _idle_timeout(self) -> float:
        """How long to sleep unless woken: 0 when a claim is worth trying at once."""
        if len(self._running) >= self.limits.max_in_flight:
            return self.limits.idle_poll_s  # a finishing task wakes us
        full = [key for key, left in self._room().items() if left <= 0]
        due = await self._queue.next_due_ms(exclude=full)
        if due is None:
            return self.limits.idle_poll_s
        # A short claim leaves due jobs behind only for functions that were out of room in
        # its window and have room now: claim again at once.
        return min(self.limits.idle_poll_s, max(0.0, (due - now_ms()) / 1000))

    def _spawn(self, job: Job) -> None:
        key = job.capacity_key
        self._per_key[key] += 1
        task = asyncio.get_running_loop().create_task(self._run(job), name=f"async-{job.job_id}")
        self._running[job.job_id] = (job, task)

    async def _run(self, job: Job) -> None:
        try:
            try:
                settlement = await self._runner.run(job)
            except asyncio.CancelledError:
                raise  # stopped or shutting down: the queue already knows, or recovers it
            except Exception as exc:
                log.exception("async job %s failed in the platform", job.job_id)
                settlement = Settlement(
                    AttemptStatus.FAILED, Status.RETRYING, retry_at_ms=now_ms() + 1000,
                    error={"errorType": policy.INTERNAL, "errorMessage": str(exc)},
                    error_class="system",
                )
            try:
                await self._queue.settle(job, settlement)
            except Exception:
                # The job stays leased to this process; start-up recovery runs it again.
                log.exception("async job %s: recording its outcome failed", job.job_id)
        finally:
            del self._running[job.job_id]
            key = job.capacity_key
            self._per_key[key] -= 1
            if self._per_key[key] <= 0:
                del self._per_key[key]
            self.poke()

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self.limits.renew_every_s)
            jobs = [job for job, _ in self._running.values()]
            try:
                await self._queue.renew(jobs, self.limits.lease_ms)
            except Exception:
                log.exception("async queue: renewing leases failed")

    async def _purge_forever(self) -> None:
        while True:
            try:
                cutoff = now_ms() - self.limits.retention_ms
                # Small batches: the writer is shared with acknowledgements.
                for _ in range(1000):
                    if await self._queue.purge(cutoff, limit=500) < 500:
                        break
            except Exception:
                log.exception("async queue: deleting old records failed")
            await asyncio.sleep(self.limits.purge_every_s)
