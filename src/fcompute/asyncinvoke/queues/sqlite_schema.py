"""Tables of the embedded queue, and rows to records.

The queue keeps its own SQLite file (not the metadata database): its write rate is a
thousand times the metadata's, and its fsyncs must not queue behind, or in front of,
control-plane writes. ``PRAGMA user_version`` versions the schema.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from fcompute.asyncinvoke.records import (
    Attempt,
    AttemptStatus,
    CodeVersion,
    Condition,
    Delivery,
    InvocationRecord,
    JobKind,
    Status,
)

SCHEMA_VERSION = 2

# One row per job: an invocation, or a destination delivery of one (kind, parent_seq).
# fkey is the capacity key (service/function; '' for deliveries), so claims can skip the
# functions whose async budget is used up without parsing names. service_id and
# function_id are the store's ids of the function the event was sent to (a delivery
# carries its invocation's): names can be reused after a delete, ids cannot. NULL in
# rows written by schema 1, which did not keep them.
SCHEMA = """
CREATE TABLE jobs (
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    service TEXT NOT NULL,
    function TEXT NOT NULL,
    qualifier TEXT NOT NULL,
    invocation_id TEXT NOT NULL,
    fkey TEXT NOT NULL,
    request_id TEXT NOT NULL,
    payload BLOB NOT NULL,
    status TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    due_ms INTEGER NOT NULL,
    ended_ms INTEGER,
    owner TEXT,
    lease_ms INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    function_errors INTEGER NOT NULL DEFAULT 0,
    system_errors INTEGER NOT NULL DEFAULT 0,
    result BLOB,
    error TEXT,
    pinned TEXT,
    replay_of TEXT,
    parent_seq INTEGER,
    condition TEXT,
    destination TEXT,
    service_id TEXT,
    function_id TEXT,
    UNIQUE (kind, service, function, invocation_id)
);
-- Pending jobs per capacity key in due order: claims and the next-due time cost a few
-- index probes per function with pending work, however deep one function's backlog is.
CREATE INDEX jobs_due ON jobs (fkey, due_ms, seq) WHERE status IN ('Enqueued', 'Retrying');
CREATE INDEX jobs_running ON jobs (lease_ms) WHERE status = 'Running';
CREATE INDEX jobs_by_function ON jobs (service, function, created_ms, seq)
    WHERE kind = 'invocation';
-- Listing by status ("which of them failed?") must not scan every record of the function.
CREATE INDEX jobs_by_status ON jobs (service, function, status, created_ms, seq)
    WHERE kind = 'invocation';
-- Retention: the oldest finished records go first.
CREATE INDEX jobs_ended ON jobs (ended_ms) WHERE kind = 'invocation';
CREATE INDEX jobs_by_parent ON jobs (parent_seq) WHERE parent_seq IS NOT NULL;
CREATE INDEX jobs_by_replay ON jobs (service, function, replay_of) WHERE replay_of IS NOT NULL;
CREATE TABLE attempts (
    job_seq INTEGER NOT NULL,
    number INTEGER NOT NULL,
    request_id TEXT NOT NULL,
    started_ms INTEGER NOT NULL,
    ended_ms INTEGER,
    status TEXT NOT NULL,
    error TEXT,
    version TEXT,
    PRIMARY KEY (job_seq, number)
) WITHOUT ROWID;
"""

PENDING_SQL = "status IN ('Enqueued', 'Retrying')"

# Every capacity key with pending jobs and its earliest due time, by skipping from key to
# key along jobs_due (SQLite has no loose index scan of its own).
DUE_BY_KEY_SQL = f"""
WITH RECURSIVE pending_keys(fkey) AS (
    SELECT MIN(fkey) FROM jobs WHERE {PENDING_SQL}
    UNION ALL
    SELECT (SELECT MIN(fkey) FROM jobs WHERE {PENDING_SQL} AND fkey > pending_keys.fkey)
    FROM pending_keys WHERE pending_keys.fkey IS NOT NULL
)
SELECT fkey, (SELECT MIN(due_ms) FROM jobs WHERE {PENDING_SQL} AND jobs.fkey = pending_keys.fkey)
FROM pending_keys WHERE fkey IS NOT NULL
"""


def due_by_key(conn: sqlite3.Connection) -> dict[str, int]:
    return {str(key): int(due) for key, due in conn.execute(DUE_BY_KEY_SQL)}


# Upgrades from each older version to the next, applied in order in one transaction.
UPGRADES: dict[int, tuple[str, ...]] = {
    # 1 -> 2: whose event it is, by id. Existing rows keep NULL and follow the name.
    1: ("ALTER TABLE jobs ADD COLUMN service_id TEXT",
        "ALTER TABLE jobs ADD COLUMN function_id TEXT"),
}


def ensure_schema(conn: sqlite3.Connection) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version == SCHEMA_VERSION:
        return
    if version > SCHEMA_VERSION or (version and version not in UPGRADES):
        raise RuntimeError(
            f"the async queue file has schema version {version}; this fcompute knows "
            f"{SCHEMA_VERSION}. Upgrade fcompute or move the file away."
        )
    conn.execute("BEGIN IMMEDIATE")
    if version == 0:
        statements = [s for s in SCHEMA.split(";") if s.strip()]
    else:
        statements = [s for v in range(version, SCHEMA_VERSION) for s in UPGRADES[v]]
    for statement in statements:
        conn.execute(statement)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    conn.execute("COMMIT")


def dump_json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))


def load_json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def dump_version(version: CodeVersion | None) -> str | None:
    return None if version is None else dump_json(version.to_json())


def load_version(text: str | None) -> CodeVersion | None:
    return None if text is None else CodeVersion.from_json(json.loads(text))


def attempt_of(row: sqlite3.Row) -> Attempt:
    return Attempt(
        number=row["number"], request_id=row["request_id"], started_ms=row["started_ms"],
        ended_ms=row["ended_ms"], status=AttemptStatus(row["status"]),
        error=load_json(row["error"]), version=load_version(row["version"]),
    )


def attempts_by_job(conn: sqlite3.Connection, seqs: list[int]) -> dict[int, list[Attempt]]:
    found: dict[int, list[Attempt]] = {seq: [] for seq in seqs}
    for chunk in range(0, len(seqs), 500):  # SQLite caps the number of bound parameters
        part = seqs[chunk:chunk + 500]
        marks = ",".join("?" * len(part))
        for row in conn.execute(
            f"SELECT * FROM attempts WHERE job_seq IN ({marks}) ORDER BY job_seq, number", part
        ):
            found[row["job_seq"]].append(attempt_of(row))
    return found


def deliveries_by_parent(conn: sqlite3.Connection, seqs: list[int]) -> dict[int, list[Delivery]]:
    found: dict[int, list[Delivery]] = {seq: [] for seq in seqs}
    rows: list[sqlite3.Row] = []
    for chunk in range(0, len(seqs), 500):
        part = seqs[chunk:chunk + 500]
        marks = ",".join("?" * len(part))
        rows += conn.execute(
            f"SELECT * FROM jobs WHERE parent_seq IN ({marks}) ORDER BY seq", part
        ).fetchall()
    attempts = attempts_by_job(conn, [row["seq"] for row in rows])
    for row in rows:
        found[row["parent_seq"]].append(Delivery(
            delivery_id=row["invocation_id"], condition=Condition(row["condition"]),
            destination=row["destination"], status=Status(row["status"]),
            created_ms=row["created_ms"], ended_ms=row["ended_ms"],
            attempts=attempts[row["seq"]],
        ))
    return found


def records_of(conn: sqlite3.Connection, rows: list[sqlite3.Row],
               replayed_by: dict[int, list[str]] | None = None) -> list[InvocationRecord]:
    seqs = [row["seq"] for row in rows]
    attempts = attempts_by_job(conn, seqs)
    deliveries = deliveries_by_parent(conn, seqs)
    replays = replayed_by or {}
    return [
        InvocationRecord(
            invocation_id=row["invocation_id"], request_id=row["request_id"],
            service=row["service"], function=row["function"], qualifier=row["qualifier"],
            status=Status(row["status"]), created_ms=row["created_ms"],
            ended_ms=row["ended_ms"], payload=bytes(row["payload"]),
            result=None if row["result"] is None else bytes(row["result"]),
            error=load_json(row["error"]), attempts=attempts[row["seq"]],
            function_errors=row["function_errors"], system_errors=row["system_errors"],
            pinned=load_version(row["pinned"]), replay_of=row["replay_of"],
            deliveries=deliveries[row["seq"]], replayed_by=replays.get(row["seq"], []),
        )
        for row in rows
    ]


def is_invocation(row: sqlite3.Row) -> bool:
    return JobKind(row["kind"]) is JobKind.INVOCATION
