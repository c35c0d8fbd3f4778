"""The embedded async queue on its own: durability rules, leases, fencing, recovery, listing."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from fcompute import errors
from fcompute.asyncinvoke.queue import ListQuery, NewDelivery, Settlement, Submission, now_ms
from fcompute.asyncinvoke.queues.sqlite import SqliteQueue
from fcompute.asyncinvoke.records import AttemptStatus, Condition, JobKind, Status

T = TypeVar("T")


def run(directory: Path, body: Callable[[SqliteQueue], Awaitable[T]]) -> T:
    """Opens the queue in ``directory``, runs ``body`` against it, closes it."""

    async def main() -> T:
        queue = SqliteQueue(directory)
        await queue.start()
        try:
            return await body(queue)
        finally:
            await queue.close()

    return asyncio.run(main())


def submission(invocation_id: str, function: str = "f", payload: bytes = b"{}") -> Submission:
    return Submission(invocation_id=invocation_id, request_id=f"req-{invocation_id}",
                      service="s", function=function, qualifier="LATEST", payload=payload,
                      created_ms=now_ms())


def test_enqueue_is_idempotent_per_function(tmp_path: Path) -> None:
    async def body(queue: SqliteQueue) -> None:
        await queue.enqueue(submission("a"))
        with pytest.raises(errors.AlreadyExists) as info:
            await queue.enqueue(submission("a", payload=b"other"))
        assert info.value.code == "InvocationAlreadyExists"
        await queue.enqueue(submission("a", function="g"))  # another function: its own ids
        record = await queue.get("s", "f", "a")
        assert record.payload == b"{}"
        assert record.status is Status.ENQUEUED

    run(tmp_path, body)


def test_claims_respect_room_per_function(tmp_path: Path) -> None:
    async def body(queue: SqliteQueue) -> None:
        for index in range(5):
            await queue.enqueue(submission(f"f{index}", function="f"))
            await queue.enqueue(submission(f"g{index}", function="g"))
        jobs = await queue.claim(limit=10, room={"s/f": 1}, default_room=2, lease_ms=60_000)
        keys = sorted(job.capacity_key for job in jobs)
        assert keys == ["s/f", "s/g", "s/g"]
        none = await queue.claim(limit=10, room={"s/f": 0, "s/g": 0}, default_room=2,
                                 lease_ms=60_000)
        assert none == []
        assert await queue.next_due_ms(exclude=["s/f", "s/g"]) is None
        assert await queue.next_due_ms(exclude=["s/g"]) is not None

    run(tmp_path, body)


def test_settle_is_fenced_and_creates_deliveries(tmp_path: Path) -> None:
    async def body(queue: SqliteQueue) -> None:
        await queue.enqueue(submission("a"))
        [job] = await queue.claim(limit=1, room={}, default_room=1, lease_ms=60_000)
        assert job.attempt == 1
        assert job.request_id == "req-a"  # the first attempt runs under the caller's id
        settled = Settlement(AttemptStatus.SUCCEEDED, Status.SUCCEEDED, result=b"ok",
                             deliveries=(NewDelivery(Condition.ON_SUCCESS, "http://x/", b"{}"),))
        assert await queue.settle(job, settled)
        assert not await queue.settle(job, settled)  # the claim is spent
        record = await queue.get("s", "f", "a")
        assert record.status is Status.SUCCEEDED
        assert record.result == b"ok"
        [delivery] = record.deliveries
        assert (delivery.condition, delivery.status) == (Condition.ON_SUCCESS, Status.ENQUEUED)
        # Deliveries are jobs too, not capped per function, but never listed as invocations.
        [delivery_job] = await queue.claim(limit=5, room={"s/f": 0}, default_room=0,
                                           lease_ms=60_000)
        assert delivery_job.kind is JobKind.DELIVERY
        assert delivery_job.parent_id == "a"
        page = await queue.list(ListQuery(service="s", function="f"))
        assert [r.invocation_id for r in page.items] == ["a"]

    run(tmp_path, body)


def test_retry_gets_a_new_request_id_and_waits_until_due(tmp_path: Path) -> None:
    async def body(queue: SqliteQueue) -> None:
        await queue.enqueue(submission("a"))
        [job] = await queue.claim(limit=1, room={}, default_room=1, lease_ms=60_000)
        later = now_ms() + 60_000
        await queue.settle(job, Settlement(AttemptStatus.FAILED, Status.RETRYING,
                                           retry_at_ms=later, error={"errorType": "E"},
                                           error_class="function"))
        assert await queue.claim(limit=1, room={}, default_room=1, lease_ms=60_000) == []
        assert await queue.next_due_ms(exclude=[]) == later
        record = await queue.get("s", "f", "a")
        assert (record.status, record.function_errors) == (Status.RETRYING, 1)
        assert record.attempts[0].status is AttemptStatus.FAILED

    run(tmp_path, body)


def test_stop_pending_running_and_finished(tmp_path: Path) -> None:
    async def body(queue: SqliteQueue) -> None:
        await queue.enqueue(submission("queued"))
        await queue.enqueue(submission("running"))
        outcome = await queue.stop("s", "f", "queued")
        assert (outcome.previous, outcome.job_id) == (Status.ENQUEUED, None)
        [job] = await queue.claim(limit=5, room={}, default_room=5, lease_ms=60_000)
        assert job.invocation_id == "running"
        outcome = await queue.stop("s", "f", "running")
        assert (outcome.previous, outcome.job_id) == (Status.RUNNING, job.job_id)
        # The runner's late result does not resurrect it.
        assert not await queue.settle(job, Settlement(AttemptStatus.SUCCEEDED, Status.SUCCEEDED))
        record = await queue.get("s", "f", "running")
        assert record.status is Status.STOPPED
        assert record.attempts[-1].status is AttemptStatus.STOPPED
        with pytest.raises(errors.Conflict):
            await queue.stop("s", "f", "running")
        with pytest.raises(errors.NotFound):
            await queue.stop("s", "f", "missing")

    run(tmp_path, body)


def test_pagination_filters_and_order(tmp_path: Path) -> None:
    async def body(queue: SqliteQueue) -> None:
        for index in range(7):
            await queue.enqueue(submission(f"id{index}"))
        [job] = await queue.claim(limit=1, room={}, default_room=1, lease_ms=60_000)
        await queue.settle(job, Settlement(AttemptStatus.FAILED, Status.FAILED,
                                           error={"errorType": "E"}))
        seen: list[str] = []
        token = ""
        while True:
            page = await queue.list(ListQuery(service="s", function="f", limit=3,
                                              next_token=token))
            seen += [r.invocation_id for r in page.items]
            if not page.next_token:
                break
            token = page.next_token
        assert seen == [f"id{i}" for i in reversed(range(7))]
        failed = await queue.list(ListQuery(service="s", function="f", status=Status.FAILED))
        assert [r.invocation_id for r in failed.items] == ["id0"]
        oldest = await queue.list(ListQuery(service="s", function="f", limit=2,
                                            newest_first=False))
        assert [r.invocation_id for r in oldest.items] == ["id0", "id1"]
        prefixed = await queue.list(ListQuery(service="s", function="f", id_prefix="id6"))
        assert [r.invocation_id for r in prefixed.items] == ["id6"]
        future = await queue.list(ListQuery(service="s", function="f",
                                            started_from_ms=now_ms() + 10_000))
        assert future.items == []

    run(tmp_path, body)


def test_one_process_per_queue_directory(tmp_path: Path) -> None:
    first = SqliteQueue(tmp_path)
    try:
        with pytest.raises(RuntimeError, match="another fcompute process"):
            SqliteQueue(tmp_path)
    finally:
        asyncio.run(first.close())


CRASHER = textwrap.dedent("""
    import asyncio, os, signal, sys
    from fcompute.asyncinvoke.queue import Submission, now_ms
    from fcompute.asyncinvoke.queues.sqlite import SqliteQueue

    async def main():
        queue = SqliteQueue(__import__("pathlib").Path(sys.argv[1]))
        await queue.start()
        for i in range(20):
            await queue.enqueue(Submission(f"e{i}", f"r{i}", "s", "f", "LATEST", b"x", now_ms()))
        await queue.claim(limit=5, room={}, default_room=5, lease_ms=600_000)
        os.kill(os.getpid(), signal.SIGKILL)  # no close, no flush: as kill -9 leaves it

    asyncio.run(main())
""")


def test_acknowledged_events_and_leases_survive_kill_9(tmp_path: Path) -> None:
    process = subprocess.run([sys.executable, "-c", CRASHER, str(tmp_path)], check=False,
                             env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert process.returncode == -signal.SIGKILL
    # Before recovery the file says which five were leased when the process died.
    with contextlib.closing(sqlite3.connect(tmp_path / "queue.db")) as conn:
        leased = {row[0] for row in conn.execute(
            "SELECT invocation_id FROM jobs WHERE status = 'Running'")}
    assert leased == {f"e{i}" for i in range(5)}

    async def body(queue: SqliteQueue) -> tuple[list[str], list[str]]:
        recovered = await queue.recover()
        jobs = await queue.claim(limit=50, room={}, default_room=50, lease_ms=60_000)
        return recovered, [job.invocation_id for job in jobs]

    recovered, claimed = run(tmp_path, body)
    assert set(recovered) == leased
    assert sorted(claimed) == sorted(f"e{i}" for i in range(20))


def test_purge_keeps_recent_records_and_pending_deliveries(tmp_path: Path) -> None:
    async def body(queue: SqliteQueue) -> tuple[int, int, list[str]]:
        for name in ("done", "delivering", "waiting"):
            await queue.enqueue(submission(name))
        jobs = {job.invocation_id: job for job in await queue.claim(
            limit=2, room={}, default_room=5, lease_ms=60_000)}
        await queue.settle(jobs["done"], Settlement(AttemptStatus.SUCCEEDED, Status.SUCCEEDED))
        await queue.settle(jobs["delivering"], Settlement(
            AttemptStatus.FAILED, Status.FAILED, error={"errorType": "E"},
            deliveries=(NewDelivery(Condition.ON_FAILURE, "http://x/", b"{}"),)))
        kept = await queue.purge(now_ms() - 60_000, limit=10)  # nothing is that old yet
        purged = await queue.purge(now_ms() + 1, limit=10)
        page = await queue.list(ListQuery(service="s", function="f"))
        return kept, purged, sorted(r.invocation_id for r in page.items)

    kept, purged, left = run(tmp_path, body)
    assert (kept, purged) == (0, 1)
    assert left == ["delivering", "waiting"]  # its delivery is still due; "waiting" never ran


def test_claims_take_the_oldest_due_first_across_functions(tmp_path: Path) -> None:
    async def body(queue: SqliteQueue) -> list[str]:
        for name, function in (("a1", "a"), ("b1", "b"), ("a2", "a"), ("c1", "c")):
            await queue.enqueue(submission(name, function=function))
            await asyncio.sleep(0.002)  # distinct acceptance times
        jobs = await queue.claim(limit=3, room={}, default_room=5, lease_ms=60_000)
        return [job.invocation_id for job in jobs]

    assert run(tmp_path, body) == ["a1", "b1", "a2"]


def test_a_lease_that_ran_out_elsewhere_is_taken_over(tmp_path: Path) -> None:
    async def body(queue: SqliteQueue) -> tuple[int, list[AttemptStatus], int]:
        await queue.enqueue(submission("a"))
        [job] = await queue.claim(limit=1, room={}, default_room=1, lease_ms=60_000)
        await queue.renew([job], lease_ms=120_000)  # ours: renewing keeps it

        def hand_to_a_dead_owner(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE jobs SET owner = 'gone', lease_ms = 0")

        await queue._writer.submit(hand_to_a_dead_owner, durable=False)
        [again] = await queue.claim(limit=1, room={}, default_room=1, lease_ms=60_000)
        record = await queue.get("s", "f", "a")
        return again.attempt, [a.status for a in record.attempts], again.system_errors

    attempt, statuses, system_errors = run(tmp_path, body)
    assert attempt == 2
    assert statuses == [AttemptStatus.INTERRUPTED, AttemptStatus.RUNNING]
    assert system_errors == 1


def test_events_carry_the_ids_of_their_function_and_deliveries_inherit_them(
    tmp_path: Path,
) -> None:
    async def body(queue: SqliteQueue) -> None:
        await queue.enqueue(Submission("a", "req-a", "s", "f", "LATEST", b"{}", now_ms(),
                                       service_id="sid", function_id="fid"))
        [job] = await queue.claim(limit=5, room={}, default_room=5, lease_ms=60_000)
        assert (job.service_id, job.function_id) == ("sid", "fid")
        done = Settlement(AttemptStatus.SUCCEEDED, Status.SUCCEEDED, deliveries=(
            NewDelivery(Condition.ON_SUCCESS, "http://127.0.0.1:9/x", b"{}"),))
        assert await queue.settle(job, done)
        [delivery] = await queue.claim(limit=5, room={}, default_room=5, lease_ms=60_000)
        assert delivery.kind is JobKind.DELIVERY
        assert (delivery.service_id, delivery.function_id) == ("sid", "fid")

    run(tmp_path, body)


def test_a_schema_1_queue_is_upgraded_and_its_events_follow_the_name(tmp_path: Path) -> None:
    from fcompute.asyncinvoke.queues import sqlite_schema

    # A queue file as schema 1 wrote it: no ids, one event waiting.
    conn = sqlite3.connect(tmp_path / "queue.db")
    columns = "    service_id TEXT,\n    function_id TEXT,\n"
    assert columns in sqlite_schema.SCHEMA
    conn.executescript(sqlite_schema.SCHEMA.replace(columns, ""))
    conn.execute("INSERT INTO jobs (kind, service, function, qualifier, invocation_id, fkey,"
                 " request_id, payload, status, created_ms, due_ms) VALUES ('invocation', 's',"
                 " 'f', 'LATEST', 'old', 's/f', 'r', x'00', 'Enqueued', 1, 1)")
    conn.execute("PRAGMA user_version=1")
    conn.commit()
    conn.close()

    async def body(queue: SqliteQueue) -> None:
        await queue.enqueue(Submission("new", "req-new", "s", "f", "LATEST", b"{}", now_ms(),
                                       service_id="sid", function_id="fid"))
        jobs = await queue.claim(limit=5, room={}, default_room=5, lease_ms=60_000)
        assert {job.invocation_id: job.function_id for job in jobs} == {"old": None,
                                                                        "new": "fid"}

    run(tmp_path, body)
    with contextlib.closing(sqlite3.connect(tmp_path / "queue.db")) as upgraded:
        assert upgraded.execute("PRAGMA user_version").fetchone()[0] == 2
