"""SQLite plumbing for the embedded queue: a group-commit writer and a pool of readers.

Every write runs on one connection in one thread. Whatever writes arrive while a
commit is on its way to disk wait, then go out together in the next transaction with
a single fsync (group commit): durability per write stays the same, the fsync cost is
shared by everyone who waited for it. sqlite3 releases the GIL while it works, so the
event loop keeps serving requests meanwhile.

Two levels of durability, chosen per write:

- ``durable=True`` (new events, stops): the commit fsyncs the WAL (``synchronous=FULL``)
  before the caller hears back, so what was acknowledged survives kill -9 and power loss.
- ``durable=False`` (claims, outcomes, lease renewals): the commit is written to the WAL
  but not fsynced (``synchronous=NORMAL``). It survives the process being killed, since
  the data is in the kernel's page cache. A power loss may undo the last of these, and
  only these: the next fsync covers every earlier write of the file, and the WAL's
  checksums cut a torn tail at the last complete commit. An undone claim or outcome sends
  the job back a step (it runs again), never loses it: delivery stays at-least-once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
Operation = Callable[[sqlite3.Connection], T]

# More than this many writes in one transaction only delays the first one's answer.
MAX_BATCH = 512


def connect(path: Path) -> sqlite3.Connection:
    # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE ... COMMIT).
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL until a batch without durable writes says otherwise (see the module docstring).
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


class _Pending(Generic[T]):
    __slots__ = ("durable", "future", "loop", "operation")

    def __init__(self, operation: Operation[T], loop: asyncio.AbstractEventLoop,
                 future: asyncio.Future[T], durable: bool) -> None:
        self.operation = operation
        self.loop = loop
        self.future = future
        self.durable = durable


Outcome = tuple[_Pending[Any], Any, BaseException | None]


def _resolve(outcomes: list[Outcome]) -> None:
    for pending, value, error in outcomes:
        if pending.future.done():  # the caller gave up waiting; the write still happened
            continue
        if error is None:
            pending.future.set_result(value)
        else:
            pending.future.set_exception(error)


class GroupCommitWriter:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._inbox: queue.SimpleQueue[_Pending[Any] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._synchronous = "FULL"
        self.batches = 0
        self.writes = 0

    def start(self) -> None:
        conn = connect(self._path)  # fail here, not in the thread, if the file is unusable
        self._thread = threading.Thread(target=self._run, args=(conn,), name="queue-writer",
                                        daemon=True)
        self._thread.start()

    def submit(self, operation: Operation[T], *, durable: bool) -> asyncio.Future[T]:
        """Runs ``operation`` in a write transaction; the future resolves after the commit.

        ``durable`` writes are fsynced before the future resolves.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._inbox.put(_Pending(operation, loop, future, durable))
        return future

    async def close(self) -> None:
        if self._thread is None:
            return
        self._inbox.put(None)
        await asyncio.to_thread(self._thread.join)
        self._thread = None

    def _run(self, conn: sqlite3.Connection) -> None:
        try:
            while True:
                first = self._inbox.get()
                if first is None:
                    return
                batch = [first]
                stopping = False
                while len(batch) < MAX_BATCH:
                    try:
                        more = self._inbox.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        stopping = True
                        break
                    batch.append(more)
                self._commit(conn, batch)
                if stopping:
                    return
        finally:
            conn.close()

    def _commit(self, conn: sqlite3.Connection, batch: list[_Pending[Any]]) -> None:
        outcomes: list[Outcome] = []
        synchronous = "FULL" if any(p.durable for p in batch) else "NORMAL"
        try:
            if synchronous != self._synchronous:  # only allowed outside a transaction
                conn.execute(f"PRAGMA synchronous={synchronous}")
                self._synchronous = synchronous
            conn.execute("BEGIN IMMEDIATE")
            for pending in batch:
                # A savepoint per write: one failing write must not undo the others.
                conn.execute("SAVEPOINT op")
                try:
                    value = pending.operation(conn)
                except Exception as exc:
                    conn.execute("ROLLBACK TO op")
                    conn.execute("RELEASE op")
                    outcomes.append((pending, None, exc))
                else:
                    conn.execute("RELEASE op")
                    outcomes.append((pending, value, None))
            conn.execute("COMMIT")
        except Exception as exc:
            log.exception("async queue: a write transaction failed")
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            outcomes = [(pending, None, exc) for pending in batch]
        self.batches += 1
        self.writes += len(batch)
        by_loop: dict[asyncio.AbstractEventLoop, list[Outcome]] = {}
        for outcome in outcomes:
            by_loop.setdefault(outcome[0].loop, []).append(outcome)
        for loop, items in by_loop.items():
            # One wake-up of the event loop per batch, not one per write.
            with contextlib.suppress(RuntimeError):  # the loop closed while we wrote
                loop.call_soon_threadsafe(_resolve, items)


class ReaderPool:
    """Read-only queries on their own connections: WAL lets them run beside the writer."""

    def __init__(self, path: Path, threads: int = 2) -> None:
        self._path = path
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="queue-read")

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connect(self._path)
            with self._lock:
                self._connections.append(conn)
        return conn

    def _snapshot(self, operation: Operation[T]) -> T:
        conn = self._connection()
        # One read transaction: every query of the operation sees the same snapshot.
        conn.execute("BEGIN")
        try:
            return operation(conn)
        finally:
            conn.execute("COMMIT")

    async def read(self, operation: Operation[T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._snapshot, operation)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
