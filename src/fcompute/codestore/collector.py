"""Removes code packages that nothing uses any more.

A package stays while any of these holds:

- a function references it (the function store), or an async invocation may still run it
  (a pinned replay, or a failed invocation a replay may target: the async queue);
- a pool runs it or may start it: a retired pool keeps its digest until its last instance
  ends, and a running instance has the tree bind-mounted;
- an upload of it is on its way to a function row (``upload`` holds it until the row is
  written, and a collection that overlapped an upload starts over);
- it was dropped less than ``linger_s`` ago, so an invocation that resolved the old
  configuration just before a change still finds its code.

When: ``dropped`` (a function's code changed, or the function was deleted) schedules a
collection ``linger_s`` later; a tick every ``tick_s`` notices digests the pools stopped
using (a retired pool's last instance ended) and schedules one; a full collection runs
every ``full_s`` whatever happened (the first one ``linger_s`` after start), which also
clears packages an interrupted upload left behind.

One platform process owns a data directory's code store: uploads from other processes are
not seen here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fcompute.codestore.base import CodeInfo, CodeStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CollectorTiming:
    linger_s: float = 3.0
    tick_s: float = 1.0
    full_s: float = 600.0


class CodeCollector:
    def __init__(
        self, codestore: CodeStore, referenced: Sequence[Callable[[], Awaitable[set[str]]]],
        running: Callable[[], set[str]], timing: CollectorTiming | None = None,
    ) -> None:
        """``referenced``: sources of the digests records reference (functions, async
        invocations); ``running``: the digests pools use."""
        self._codestore = codestore
        self._referenced = referenced
        self._running = running
        self._timing = timing or CollectorTiming()
        self._uploads = 0  # between put and the end of the block that writes the row
        self._finished = 0  # uploads finished so far
        self._removals = 0  # removals running in a thread
        self._deferred: list[str] = []  # holds to end once no removal runs
        self._lingering: dict[str, float] = {}  # digest -> loop time it may go from
        self._due: float | None = None
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    @asynccontextmanager
    async def upload(self, zip_bytes: Callable[[], bytes]) -> AsyncIterator[CodeInfo]:
        """Stores the package ``zip_bytes()`` returns (both in a thread) and keeps it from
        being collected until the block, which writes the row referencing it, has ended."""
        self._uploads += 1
        try:
            info = await asyncio.to_thread(lambda: self._codestore.put(zip_bytes()))
            try:
                yield info
            except BaseException:
                self.dropped(info.digest)  # probably referenced by nothing: collect it soon
                raise
            finally:
                if self._removals:
                    # That removal listed its candidates before this row was written: the
                    # hold must outlive it.
                    self._deferred.append(info.digest)
                else:
                    self._codestore.release(info.digest)
        finally:
            self._uploads -= 1
            self._finished += 1

    def dropped(self, digest: str) -> None:
        """A function stopped referencing ``digest``: collect in ``linger_s``."""
        at = asyncio.get_running_loop().time() + self._timing.linger_s
        self._lingering[digest] = at
        self._schedule(at)

    def _schedule(self, at: float) -> None:
        self._due = at if self._due is None else min(self._due, at)

    async def collect(self) -> int:
        """Removes what nothing uses now; returns how many packages went.

        Answers 0 without removing anything when an upload overlapped it (a collection is
        then scheduled for the next tick).
        """
        loop = asyncio.get_running_loop()
        async with self._lock:
            finished = self._finished
            if self._uploads:
                self._schedule(loop.time() + self._timing.tick_s)
                return 0
            referenced: set[str] = set()
            for source in self._referenced:
                referenced |= await source()
            if self._uploads or self._finished != finished:
                self._schedule(loop.time() + self._timing.tick_s)
                return 0
            now = loop.time()
            self._lingering = {d: at for d, at in self._lingering.items() if at > now}
            if self._lingering:  # kept for now: the next collection comes when they may go
                self._schedule(min(self._lingering.values()))
            keep = referenced | self._running() | set(self._lingering)
            self._removals += 1
            removal = asyncio.ensure_future(
                asyncio.to_thread(self._codestore.remove_unused, keep))
            # Ended when the thread is done, even if this task is cancelled meanwhile.
            removal.add_done_callback(self._removal_ended)
            return await asyncio.shield(removal)

    def _removal_ended(self, _removal: asyncio.Future[int]) -> None:
        self._removals -= 1
        if self._removals:
            return
        for digest in self._deferred:
            self._codestore.release(digest)
        self._deferred.clear()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="code-collector")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        timing = self._timing
        next_full = loop.time() + timing.linger_s
        previous = self._running()
        while True:
            await asyncio.sleep(timing.tick_s)
            now = loop.time()
            running = self._running()
            if previous - running:
                self._schedule(now)
            previous = running
            full = now >= next_full
            if not full and (self._due is None or now < self._due):
                continue
            self._due = None
            if full:
                next_full = now + timing.full_s
            try:
                removed = await self.collect()
            except Exception:
                log.exception("removing unused code packages failed")
                continue
            if removed:
                log.info("removed %d unused code package(s)", removed)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
