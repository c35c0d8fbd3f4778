"""The operations on async invocations that the API and destinations use.

Submit, read, stop and replay, over the queue seam and the dispatcher; no HTTP here.
"""

from __future__ import annotations

import uuid
from enum import StrEnum

from fcompute import errors
from fcompute.asyncinvoke.dispatcher import Dispatcher
from fcompute.asyncinvoke.queue import AsyncQueue, ListQuery, Submission, now_ms
from fcompute.asyncinvoke.records import REPLAYABLE, CodeVersion, InvocationRecord
from fcompute.codestore.base import CodeStore
from fcompute.invoke.catalog import FunctionCatalog, FunctionRef, Resolved
from fcompute.model import LATEST, Page


class ReplayTarget(StrEnum):
    ORIGINAL = "original"  # the version (or, for LATEST, the code) it first ran on
    LATEST = "latest"  # what its qualifier resolves to now


class AsyncInvocations:
    def __init__(self, queue: AsyncQueue, dispatcher: Dispatcher, catalog: FunctionCatalog,
                 codestore: CodeStore) -> None:
        self._queue = queue
        self._dispatcher = dispatcher
        self._catalog = catalog
        self._codestore = codestore

    async def submit(
        self, *, target: Resolved, payload: bytes, request_id: str,
        invocation_id: str | None = None, pinned: CodeVersion | None = None,
        replay_of: str | None = None,
    ) -> str:
        """Stores the invocation durably and returns its id (the request id by default).

        The event belongs to ``target`` as it is now (by id): if the function is deleted
        before the event runs, it fails, even if another function takes the name.
        """
        invocation_id = invocation_id or request_id
        await self._queue.enqueue(Submission(
            invocation_id=invocation_id, request_id=request_id, service=target.service.name,
            function=target.function.name, qualifier=target.qualifier, payload=payload,
            created_ms=now_ms(), pinned=pinned, replay_of=replay_of,
            service_id=target.service.id, function_id=target.function.id,
        ))
        return invocation_id

    async def get(self, service: str, function: str, invocation_id: str) -> InvocationRecord:
        return await self._queue.get(service, function, invocation_id)

    async def list(self, query: ListQuery) -> Page[InvocationRecord]:
        return await self._queue.list(query)

    async def stop(self, service: str, function: str, invocation_id: str) -> InvocationRecord:
        outcome = await self._queue.stop(service, function, invocation_id)
        if outcome.job_id is not None:
            self._dispatcher.cancel(outcome.job_id)
        return await self._queue.get(service, function, invocation_id)

    async def replay(self, service: str, function: str, invocation_id: str,
                     target: ReplayTarget, request_id: str) -> InvocationRecord:
        """Runs a failed, expired or stopped invocation again, as a new linked invocation."""
        original = await self._queue.get(service, function, invocation_id)
        if original.status not in REPLAYABLE:
            raise errors.Conflict(
                f"async invocation '{invocation_id}' is {original.status.value}; only failed, "
                "expired or stopped invocations can be replayed",
                code="InvocationNotReplayable",
            )
        pinned: CodeVersion | None = None
        qualifier = original.qualifier
        if target is ReplayTarget.ORIGINAL:
            ran = original.version
            if ran is None:
                raise errors.Conflict(
                    f"async invocation '{invocation_id}' never ran, so it has no original "
                    'code; replay it with {"target": "latest"}',
                    code="InvocationNotReplayable",
                )
            if not self._codestore.contains(ran.code_digest):
                raise errors.Conflict(
                    f"the code async invocation '{invocation_id}' ran on "
                    f"({ran.code_checksum}) is no longer stored",
                    code="CodeNotFound",
                )
            # The same qualifier (its config and destinations), pinned to what it ran: a
            # published version by id (immutable), LATEST by its code.
            pinned = ran
            if ran.version_id != LATEST:
                qualifier = ran.version_id
        # A clear 404 if it was deleted; a replay runs on the function that has the name now.
        current = await self._catalog.resolve(FunctionRef(service, qualifier, function))
        if qualifier != original.qualifier:
            current = Resolved(current.service, current.function, original.qualifier,
                               current.version)
        new_id = await self.submit(
            target=current, payload=original.payload,
            request_id=request_id, invocation_id=str(uuid.uuid4()), pinned=pinned,
            replay_of=original.invocation_id,
        )
        return await self._queue.get(service, function, new_id)
