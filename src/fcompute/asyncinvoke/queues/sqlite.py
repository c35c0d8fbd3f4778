"""The embedded async queue: one SQLite file in WAL mode under the data directory.

One process owns the file (an exclusive lock next to it says so), which is what makes
start-up recovery simple: every job still marked running belongs to a process that is
gone. Writes go through :class:`GroupCommitWriter` (one fsync per batch of concurrent
writes), reads through a small pool of reader connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import sqlite3
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path

from fcompute import errors
from fcompute.asyncinvoke.policy import INTERRUPTED
from fcompute.asyncinvoke.queue import (
    DELIVERY_KEY,
    Job,
    ListQuery,
    Settlement,
    StopOutcome,
    Submission,
    now_ms,
)
from fcompute.asyncinvoke.queues.sqlite_io import GroupCommitWriter, ReaderPool, connect
from fcompute.asyncinvoke.queues.sqlite_schema import (
    PENDING_SQL,
    due_by_key,
    dump_json,
    dump_version,
    ensure_schema,
    load_version,
    records_of,
)
from fcompute.asyncinvoke.records import (
    AttemptStatus,
    Condition,
    InvocationRecord,
    JobKind,
    Status,
)
from fcompute.model import Page


def invocation_not_found(service: str, function: str, invocation_id: str) -> errors.NotFound:
    return errors.NotFound(
        f"async invocation '{invocation_id}' of function '{service}/{function}' does not exist",
        code="InvocationNotFound",
    )


def _marks(values: Collection[object]) -> str:
    return ",".join("?" * len(values))


class SqliteQueue:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._path = directory / "queue.db"
        self._lock_fd = os.open(directory / "queue.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise RuntimeError(
                f"another fcompute process uses the async queue in {directory}"
            ) from None
        # Leases taken by this process carry its id; any other id is a process that is gone.
        self.owner = uuid.uuid4().hex
        self._writer = GroupCommitWriter(self._path)
        self._readers = ReaderPool(self._path)
        self._listeners: list[Callable[[], None]] = []

    @property
    def path(self) -> Path:
        return self._path

    async def start(self) -> None:
        def prepare() -> None:
            conn = connect(self._path)
            try:
                ensure_schema(conn)
            finally:
                conn.close()

        await asyncio.to_thread(prepare)
        self._writer.start()

    async def close(self) -> None:
        await self._writer.close()
        await asyncio.to_thread(self._readers.close)
        with contextlib.suppress(OSError):
            os.close(self._lock_fd)

    def subscribe(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def _notify(self) -> None:
        for listener in self._listeners:
            listener()

    # writes ----------------------------------------------------------------

    async def enqueue(self, submission: Submission) -> None:
        s = submission

        def insert(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO jobs (kind, service, function, qualifier, invocation_id,"
                " fkey, request_id, payload, status, created_ms, due_ms, pinned, replay_of,"
                " service_id, function_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (JobKind.INVOCATION.value, s.service, s.function, s.qualifier, s.invocation_id,
                 f"{s.service}/{s.function}", s.request_id, s.payload, Status.ENQUEUED.value,
                 s.created_ms, s.created_ms, dump_version(s.pinned), s.replay_of,
                 s.service_id, s.function_id),
            )
            return cursor.rowcount == 1

        if not await self._writer.submit(insert, durable=True):
            raise errors.AlreadyExists(
                f"async invocation '{s.invocation_id}' of function '{s.service}/{s.function}' "
                "already exists; it is not run again",
                code="InvocationAlreadyExists",
            )
        self._notify()

    async def claim(
        self, *, limit: int, room: Mapping[str, int], default_room: int, lease_ms: int
    ) -> list[Job]:
        owner = self.owner

        def claim(conn: sqlite3.Connection) -> list[Job]:
            now = now_ms()
            left = dict(room)
            chosen: list[int] = []
            # Leases of another owner that ran out: that process stopped renewing them.
            for seq, fkey in conn.execute(
                "SELECT seq, fkey FROM jobs WHERE status = 'Running' AND lease_ms < ?"
                " AND owner != ? LIMIT ?", (now, owner, limit),
            ).fetchall():
                if fkey == DELIVERY_KEY or left.get(fkey, default_room) > 0:
                    if fkey != DELIVERY_KEY:
                        left[fkey] = left.get(fkey, default_room) - 1
                    chosen.append(seq)
            # Due jobs of each function with room, at most its room each, merged in due
            # order: one function's deep backlog neither slows nor starves the others.
            candidates: list[tuple[int, int]] = []
            for fkey, earliest in due_by_key(conn).items():
                budget = limit if fkey == DELIVERY_KEY else min(limit, left.get(fkey,
                                                                               default_room))
                if earliest > now or budget <= 0:
                    continue
                candidates += [(row[0], row[1]) for row in conn.execute(
                    f"SELECT due_ms, seq FROM jobs WHERE {PENDING_SQL} AND fkey = ?"
                    " AND due_ms <= ? ORDER BY due_ms, seq LIMIT ?", (fkey, now, budget),
                )]
            chosen += [seq for _, seq in sorted(candidates)][:max(0, limit - len(chosen))]
            return [self._lease(conn, seq, now, now + lease_ms) for seq in chosen]

        return await self._writer.submit(claim, durable=False)

    def _lease(self, conn: sqlite3.Connection, seq: int, now: int, lease_until: int) -> Job:
        row = conn.execute("SELECT * FROM jobs WHERE seq = ?", (seq,)).fetchone()
        system_errors = row["system_errors"]
        if row["status"] == Status.RUNNING.value:
            self._interrupt(conn, seq, row["attempts"], now)
            system_errors += 1
        number = row["attempts"] + 1
        # The first attempt runs under the id the caller was given; retries get their own.
        request_id = row["request_id"] if number == 1 else str(uuid.uuid4())
        conn.execute(
            "UPDATE jobs SET status = 'Running', owner = ?, lease_ms = ?, attempts = ?,"
            " system_errors = ? WHERE seq = ?",
            (self.owner, lease_until, number, system_errors, seq),
        )
        conn.execute(
            "INSERT INTO attempts (job_seq, number, request_id, started_ms, status)"
            " VALUES (?,?,?,?,?)", (seq, number, request_id, now, AttemptStatus.RUNNING.value),
        )
        kind = JobKind(row["kind"])
        return Job(
            job_id=str(seq), kind=kind, invocation_id=row["invocation_id"],
            service=row["service"], function=row["function"], qualifier=row["qualifier"],
            request_id=request_id, payload=bytes(row["payload"]), attempt=number,
            function_errors=row["function_errors"], system_errors=system_errors,
            created_ms=row["created_ms"], pinned=load_version(row["pinned"]),
            service_id=row["service_id"], function_id=row["function_id"],
            condition=Condition(row["condition"]) if row["condition"] else None,
            destination=row["destination"],
            parent_id=self._parent_id(conn, row["parent_seq"]),
        )

    @staticmethod
    def _parent_id(conn: sqlite3.Connection, parent_seq: int | None) -> str | None:
        if parent_seq is None:
            return None
        parent = conn.execute(
            "SELECT invocation_id FROM jobs WHERE seq = ?", (parent_seq,)
        ).fetchone()
        return None if parent is None else str(parent[0])

    @staticmethod
    def _interrupt(conn: sqlite3.Connection, seq: int, number: int, now: int) -> None:
        error = {"errorType": INTERRUPTED,
                 "errorMessage": "the platform stopped while this attempt ran; it runs again"}
        conn.execute(
            "UPDATE attempts SET status = ?, ended_ms = ?, error = ? WHERE job_seq = ?"
            " AND number = ?",
            (AttemptStatus.INTERRUPTED.value, now, dump_json(error), seq, number),
        )

    async def renew(self, jobs: Sequence[Job], lease_ms: int) -> None:
        seqs = [int(job.job_id) for job in jobs]
        if not seqs:
            return
        owner = self.owner

        def renew(conn: sqlite3.Connection) -> None:
            conn.execute(
                f"UPDATE jobs SET lease_ms = ? WHERE owner = ? AND status = 'Running'"
                f" AND seq IN ({_marks(seqs)})", (now_ms() + lease_ms, owner, *seqs),
            )

        await self._writer.submit(renew, durable=False)

    async def settle(self, job: Job, settlement: Settlement) -> bool:
        seq = int(job.job_id)
        s = settlement
        owner = self.owner

        def settle(conn: sqlite3.Connection) -> bool:
            row = conn.execute(
                "SELECT status, owner, attempts FROM jobs WHERE seq = ?", (seq,)
            ).fetchone()
            if (row is None or row["status"] != Status.RUNNING.value or row["owner"] != owner
                    or row["attempts"] != job.attempt):
                return False  # stopped, or taken over: this claim no longer counts
            now = s.ended_ms
            conn.execute(
                "UPDATE attempts SET status = ?, ended_ms = ?, error = ?, version = ?"
                " WHERE job_seq = ? AND number = ?",
                (s.attempt_status.value, now, dump_json(s.error), dump_version(s.version),
                 seq, job.attempt),
            )
            conn.execute(
                "UPDATE jobs SET status = ?, due_ms = COALESCE(?, due_ms), ended_ms = ?,"
                " owner = NULL, lease_ms = NULL, result = ?, error = ?,"
                " function_errors = function_errors + ?, system_errors = system_errors + ?"
                " WHERE seq = ?",
                (s.status.value, s.retry_at_ms, now if s.status.terminal else None, s.result,
                 dump_json(s.error), int(s.error_class == "function"),
                 int(s.error_class == "system"), seq),
            )
            for delivery in s.deliveries:
                conn.execute(
                    "INSERT OR IGNORE INTO jobs (kind, service, function, qualifier,"
                    " invocation_id, fkey, request_id, payload, status, created_ms, due_ms,"
                    " parent_seq, condition, destination, service_id, function_id)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (JobKind.DELIVERY.value, job.service, job.function, job.qualifier,
                     f"{job.invocation_id}:{delivery.condition.value}", DELIVERY_KEY,
                     str(uuid.uuid4()), delivery.payload, Status.ENQUEUED.value, now, now, seq,
                     delivery.condition.value, delivery.destination, job.service_id,
                     job.function_id),
                )
            return True

        settled = await self._writer.submit(settle, durable=False)
        if settled and (s.deliveries or s.status is Status.RETRYING):
            self._notify()
        return settled

    async def stop(self, service: str, function: str, invocation_id: str) -> StopOutcome:
        def stop(conn: sqlite3.Connection) -> StopOutcome:
            row = conn.execute(
                "SELECT seq, status, attempts FROM jobs WHERE kind = 'invocation'"
                " AND service = ? AND function = ? AND invocation_id = ?",
                (service, function, invocation_id),
            ).fetchone()
            if row is None:
                raise invocation_not_found(service, function, invocation_id)
            status = Status(row["status"])
            if status.terminal:
                raise errors.Conflict(
                    f"async invocation '{invocation_id}' already ended ({status.value}); "
                    "only an enqueued, retrying or running invocation can be stopped",
                    code="InvocationNotRunning",
                )
            now = now_ms()
            if status is Status.RUNNING:
                conn.execute(
                    "UPDATE attempts SET status = ?, ended_ms = ? WHERE job_seq = ?"
                    " AND number = ?",
                    (AttemptStatus.STOPPED.value, now, row["seq"], row["attempts"]),
                )
            conn.execute(
                "UPDATE jobs SET status = 'Stopped', ended_ms = ?, owner = NULL,"
                " lease_ms = NULL WHERE seq = ?", (now, row["seq"]),
            )
            running = str(row["seq"]) if status is Status.RUNNING else None
            return StopOutcome(previous=status, job_id=running)

        return await self._writer.submit(stop, durable=True)

    async def recover(self) -> list[str]:
        owner = self.owner

        def recover(conn: sqlite3.Connection) -> list[str]:
            now = now_ms()
            rows = conn.execute(
                "SELECT seq, attempts, invocation_id FROM jobs WHERE status = 'Running'"
                " AND owner != ?", (owner,),
            ).fetchall()
            for row in rows:
                self._interrupt(conn, row["seq"], row["attempts"], now)
                conn.execute(
                    "UPDATE jobs SET status = 'Retrying', due_ms = ?, owner = NULL,"
                    " lease_ms = NULL, system_errors = system_errors + 1 WHERE seq = ?",
                    (now, row["seq"]),
                )
            return [str(row["invocation_id"]) for row in rows]

        recovered = await self._writer.submit(recover, durable=False)
        if recovered:
            self._notify()
        return recovered

    async def purge(self, ended_before_ms: int, limit: int) -> int:
        def purge(conn: sqlite3.Connection) -> int:
            # Finished long enough ago, and no delivery of theirs still pending or running.
            seqs = [row[0] for row in conn.execute(
                "SELECT seq FROM jobs AS j WHERE kind = 'invocation' AND ended_ms < ?"
                " AND status IN ('Succeeded', 'Failed', 'Expired', 'Stopped')"
                " AND NOT EXISTS (SELECT 1 FROM jobs AS d WHERE d.parent_seq = j.seq"
                " AND d.status IN ('Enqueued', 'Retrying', 'Running')) LIMIT ?",
                (ended_before_ms, limit),
            )]
            if not seqs:
                return 0
            marks = _marks(seqs)
            doomed = seqs + [row[0] for row in conn.execute(
                f"SELECT seq FROM jobs WHERE parent_seq IN ({marks})", seqs)]
            for chunk in range(0, len(doomed), 500):
                part = doomed[chunk:chunk + 500]
                conn.execute(f"DELETE FROM attempts WHERE job_seq IN ({_marks(part)})", part)
                conn.execute(f"DELETE FROM jobs WHERE seq IN ({_marks(part)})", part)
            return len(seqs)

        return await self._writer.submit(purge, durable=False)

    # reads -----------------------------------------------------------------

    async def get(self, service: str, function: str, invocation_id: str) -> InvocationRecord:
        def get(conn: sqlite3.Connection) -> InvocationRecord:
            row = conn.execute(
                "SELECT * FROM jobs WHERE kind = 'invocation' AND service = ? AND function = ?"
                " AND invocation_id = ?", (service, function, invocation_id),
            ).fetchone()
            if row is None:
                raise invocation_not_found(service, function, invocation_id)
            replays = [r[0] for r in conn.execute(
                "SELECT invocation_id FROM jobs WHERE service = ? AND function = ?"
                " AND replay_of = ? ORDER BY seq", (service, function, invocation_id),
            )]
            return records_of(conn, [row], {row["seq"]: replays})[0]

        return await self._readers.read(get)

    async def list(self, query: ListQuery) -> Page[InvocationRecord]:
        q = query

        def page(conn: sqlite3.Connection) -> Page[InvocationRecord]:
            where = ["kind = 'invocation'", "service = ?", "function = ?"]
            args: list[object] = [q.service, q.function]
            if q.status is not None:
                where.append("status = ?")
                args.append(q.status.value)
            if q.started_from_ms is not None:
                where.append("created_ms >= ?")
                args.append(q.started_from_ms)
            if q.started_to_ms is not None:
                where.append("created_ms < ?")
                args.append(q.started_to_ms)
            if q.id_prefix:
                where.append("invocation_id >= ? AND invocation_id < ?")
                args += [q.id_prefix, q.id_prefix + "\U0010ffff"]
            order = "DESC" if q.newest_first else "ASC"
            if q.next_token:
                created, seq = _parse_token(q.next_token)
                where.append(f"(created_ms, seq) {'<' if q.newest_first else '>'} (?, ?)")
                args += [created, seq]
            rows = conn.execute(
                f"SELECT * FROM jobs WHERE {' AND '.join(where)}"
                f" ORDER BY created_ms {order}, seq {order} LIMIT ?", (*args, q.limit + 1),
            ).fetchall()
            token = None
            if len(rows) > q.limit:
                last = rows[q.limit - 1]
                token = f"{last['created_ms']}.{last['seq']}"
                rows = rows[:q.limit]
            return Page(records_of(conn, rows), token)

        return await self._readers.read(page)

    async def next_due_ms(self, exclude: Collection[str]) -> int | None:
        skip = set(exclude)

        def earliest(conn: sqlite3.Connection) -> int | None:
            due = [when for key, when in due_by_key(conn).items() if key not in skip]
            return min(due, default=None)

        return await self._readers.read(earliest)

    async def code_digests_in_use(self) -> set[str]:
        """Code async invocations may still run: that of pinned replays not yet run, and
        that failed, expired or stopped invocations ran on (a replay may target it). The
        code store keeps these packages (``codestore/collector.py``)."""

        def digests(conn: sqlite3.Connection) -> set[str]:
            rows = conn.execute(
                "SELECT pinned FROM jobs WHERE kind = 'invocation' AND pinned IS NOT NULL"
                " AND status != 'Succeeded'"
                " UNION SELECT a.version FROM attempts AS a JOIN jobs AS j ON j.seq = a.job_seq"
                " WHERE j.kind = 'invocation' AND j.status IN ('Failed', 'Expired', 'Stopped')"
                " AND a.version IS NOT NULL"
            ).fetchall()
            return {v.code_digest for (text,) in rows if (v := load_version(text)) is not None}

        return await self._readers.read(digests)


def _parse_token(token: str) -> tuple[int, int]:
    created, _, seq = token.partition(".")
    if not created.isdigit() or not seq.isdigit():
        raise errors.InvalidArgument(f"nextToken {token!r} is not one this API handed out")
    return int(created), int(seq)
