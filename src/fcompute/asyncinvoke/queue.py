"""The async queue seam: durable invocations, leases, settlement and records.

Everything above this interface (the API, the dispatcher, destinations) talks to
:class:`AsyncQueue` only, and assumes nothing about where events live: the embedded
implementation is one SQLite file (``queues/sqlite.py``); a broker-backed one
(NATS JetStream, Redis Streams) with records in the metadata database fits the same
contract.

Contract:

- ``enqueue`` returns only once the event is durable: after a crash of the process (or
  of the machine, as far as the implementation's storage allows) it is still there.
  Its invocation id is unique per function: a second one raises ``AlreadyExists``
  (``InvocationAlreadyExists``) and changes nothing.
- ``claim`` hands out due jobs under a lease owned by this queue object. A claimed job
  is recorded as running (an attempt with its start time) *before* it is returned, so
  after a crash every job that may have started is known.
- ``settle`` ends the attempt of a claim and moves the job on (done, retry at a time,
  failed, expired), atomically with creating its destination deliveries. It is fenced:
  a claim that lost its lease (stopped, recovered elsewhere) settles nothing and gets
  ``False``.
- ``recover`` runs once at start-up, before any claim: jobs still leased by a process
  that is gone get their attempt marked interrupted and become due again. Delivery is
  therefore at-least-once: a job runs twice only if it was leased when a process died.
- An invocation belongs to the function it was sent to, named by the ids the store gave
  the service and the function (``service_id``, ``function_id``), not only by their
  names: a function deleted and created again under the same name is another function,
  and the queue hands the ids back on every claim so the runner can tell.
- Reads (``get``, ``list``) return immutable :mod:`records` snapshots.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from fcompute.asyncinvoke.records import (
    AttemptStatus,
    CodeVersion,
    Condition,
    InvocationRecord,
    JobKind,
    JsonDict,
    Status,
)
from fcompute.model import Page


def now_ms() -> int:
    """Wall-clock milliseconds: the queue's time unit, comparable across processes."""
    return time.time_ns() // 1_000_000


# Capacity key of delivery jobs: they run no function instance, so no per-function limit.
DELIVERY_KEY = ""


@dataclass(frozen=True)
class Submission:
    """A new async invocation."""

    invocation_id: str
    request_id: str
    service: str
    function: str
    qualifier: str
    payload: bytes
    created_ms: int
    # Replays against the code an earlier invocation ran (None: the latest code).
    pinned: CodeVersion | None = None
    replay_of: str | None = None
    # The store's ids of the service and function it was sent to (None: not known, for
    # events stored before the queue kept them; those follow the name).
    service_id: str | None = None
    function_id: str | None = None


@dataclass(frozen=True)
class Job:
    """A claimed job: one attempt of an invocation or of a destination delivery."""

    job_id: str  # opaque to callers; identifies the job inside the queue
    kind: JobKind
    invocation_id: str
    service: str
    function: str
    qualifier: str
    request_id: str  # of this attempt: the accepting request's id on the first one
    payload: bytes
    attempt: int  # 1-based number of this attempt
    function_errors: int  # failed attempts so far, by kind
    system_errors: int
    created_ms: int
    pinned: CodeVersion | None = None
    # Whose event it is (see Submission); a delivery carries its invocation's.
    service_id: str | None = None
    function_id: str | None = None
    # Deliveries only: where to, on which outcome, and for which invocation.
    condition: Condition | None = None
    destination: str | None = None
    parent_id: str | None = None

    @property
    def capacity_key(self) -> str:
        """Jobs with the same key share the function's async instance budget."""
        if self.kind is JobKind.DELIVERY:
            return DELIVERY_KEY
        return f"{self.service}/{self.function}"


@dataclass(frozen=True)
class NewDelivery:
    condition: Condition
    destination: str
    payload: bytes  # the record sent to the destination


@dataclass(frozen=True)
class Settlement:
    """How an attempt ended and where the job goes next."""

    attempt_status: AttemptStatus
    status: Status  # RETRYING (with retry_at_ms) or a terminal status
    retry_at_ms: int | None = None
    result: bytes | None = None
    error: JsonDict | None = None
    # Which counter the failure adds to: "function" or "system" (None: neither).
    error_class: str | None = None
    version: CodeVersion | None = None
    deliveries: tuple[NewDelivery, ...] = ()
    # When the attempt ended: when its outcome was known, not when it was written down.
    ended_ms: int = field(default_factory=lambda: now_ms())


@dataclass(frozen=True)
class ListQuery:
    service: str
    function: str
    status: Status | None = None
    started_from_ms: int | None = None  # on acceptance time, inclusive
    started_to_ms: int | None = None  # exclusive
    id_prefix: str = ""
    limit: int = 100
    next_token: str = ""
    newest_first: bool = True


@dataclass(frozen=True)
class StopOutcome:
    previous: Status
    # The stopped claim when the invocation was running, so its runner can be told.
    job_id: str | None


class AsyncQueue(Protocol):
    async def start(self) -> None:
        """Opens the queue (storage, background threads); called once before anything else."""

    async def close(self) -> None: ...

    async def enqueue(self, submission: Submission) -> None:
        """Stores a new invocation durably; raises ``AlreadyExists`` for a known id."""

    async def claim(
        self, *, limit: int, room: Mapping[str, int], default_room: int, lease_ms: int
    ) -> list[Job]:
        """Leases at most ``limit`` due jobs, oldest due first.

        ``room`` caps how many jobs of each capacity key may be handed out (0 excludes
        the key); keys not in it may get ``default_room``. Deliveries are not capped.
        """

    async def renew(self, jobs: Sequence[Job], lease_ms: int) -> None:
        """Extends the leases of jobs still running, so no one takes them over."""

    async def settle(self, job: Job, settlement: Settlement) -> bool:
        """Ends the claim's attempt; False if the claim no longer holds the job."""

    async def stop(self, service: str, function: str, invocation_id: str) -> StopOutcome:
        """Stops a pending or running invocation; ``Conflict`` if it already ended."""

    async def recover(self) -> list[str]:
        """Re-queues jobs leased by a process that is gone; returns their invocation ids."""

    async def get(self, service: str, function: str, invocation_id: str) -> InvocationRecord:
        """The record; ``NotFound`` (``InvocationNotFound``) if there is none."""

    async def list(self, query: ListQuery) -> Page[InvocationRecord]: ...

    async def purge(self, ended_before_ms: int, limit: int) -> int:
        """Deletes up to ``limit`` finished records (deliveries done too) that ended before
        the time; returns how many went."""

    async def next_due_ms(self, exclude: Collection[str]) -> int | None:
        """When the earliest pending job outside the ``exclude`` capacity keys is due."""

    def subscribe(self, listener: Callable[[], None]) -> None:
        """``listener`` is called (on the event loop) whenever new jobs may be due."""
